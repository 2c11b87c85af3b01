//! The nemesis: fault injectors (partition, kill, pause, clock) and their schedule.

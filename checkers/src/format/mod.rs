//! History formats: JSON Lines (ours), Jepsen EDN and history.txt import, EDN export.

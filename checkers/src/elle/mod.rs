//! Transactional checking, Elle-style: list-append and rw-register.

//! Key ceremonies as state machines.

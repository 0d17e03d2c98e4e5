//! The remote-execute relay through the real binary (written below).

mod common;

//! Wire formats: one tokio-util `Decoder`/`Encoder` per protocol. A codec
//! turns bytes into typed messages and back, refuses what is malformed or
//! too large, and makes no business decision.

pub mod chat;
pub mod exec;
pub mod frames;
pub mod greet;
pub mod locker;
pub mod plate;
pub mod smarthome;

//! Sockets: accept loops, connection limits, and per-connection tasks that
//! are tracked for graceful shutdown. Nothing here parses a protocol.

pub mod tcp;
pub mod tls;
pub mod ws;

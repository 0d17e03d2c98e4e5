//! World `greet` (`wit/greet.wit`).

use super::{Admin, Exports, world};

world!(GreetWorld, "greet", Greet, GreetPre, dyn GreetHandler);

pub use exports::wasmgate::plugin::greet_handler::*;

/// What a greeter does: the `greet-handler` export.
pub trait GreetHandler: Admin {
    fn greet(&mut self, name: String) -> wasmtime::Result<Result<String, String>>;
}

impl<T: Send + 'static> GreetHandler for Exports<'_, Greet, T> {
    fn greet(&mut self, name: String) -> wasmtime::Result<Result<String, String>> {
        self.bindings
            .wasmgate_plugin_greet_handler()
            .call_greet(&mut *self.store, &name)
    }
}

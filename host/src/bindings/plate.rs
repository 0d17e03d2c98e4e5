//! World `plate` (`wit/plate.wit`).

use super::{Admin, Exports, world};

world!(PlateWorld, "plate", Plate, PlatePre, dyn PlateHandler);

pub use exports::wasmgate::plugin::plate_handler::{self as wit, Failure, LoginRequest};

/// A recognition request: the photo, whose MD5 the host has checked, and
/// the camera's names for it.
#[derive(Debug, Clone)]
pub struct Photo {
    pub camera: String,
    pub identify: String,
    pub image: Vec<u8>,
}

/// What a plate plugin does: the `plate-handler` export.
pub trait PlateHandler: Admin {
    fn login(&mut self, request: LoginRequest) -> wasmtime::Result<bool>;
    fn recognize(&mut self, photo: Photo) -> wasmtime::Result<Result<wit::Plate, Failure>>;
}

impl<T: Send + 'static> PlateHandler for Exports<'_, Plate, T> {
    fn login(&mut self, request: LoginRequest) -> wasmtime::Result<bool> {
        self.bindings
            .wasmgate_plugin_plate_handler()
            .call_login(&mut *self.store, &request)
    }
    fn recognize(&mut self, photo: Photo) -> wasmtime::Result<Result<wit::Plate, Failure>> {
        self.bindings
            .wasmgate_plugin_plate_handler()
            .call_recognize(
                &mut *self.store,
                &photo.camera,
                &photo.identify,
                &photo.image,
            )
    }
}

//! Native build of `plugins/plate` (with the recogniser).

use super::native_admin;
use crate::bindings::plate::{Failure, LoginRequest, Photo, PlateHandler, wit};
use crate::runtime::PluginCtx;

plate::wit_plate_colour!(crate::bindings::plate::wit);

pub struct Native(pub PluginCtx);

native_admin!(Native, plate::admin);

impl PlateHandler for Native {
    fn login(&mut self, request: LoginRequest) -> wasmtime::Result<bool> {
        Ok(plate::login(&self.0, &request.token))
    }
    fn recognize(&mut self, photo: Photo) -> wasmtime::Result<Result<wit::Plate, Failure>> {
        Ok(
            match plate::recognize(&self.0, &photo.camera, &photo.identify, &photo.image) {
                Ok((c, plate)) => Ok(wit::Plate {
                    colour: colour(c),
                    plate,
                }),
                Err(plate::Failure::NotRecognised) => Err(Failure::NotRecognised),
                Err(plate::Failure::ImageNotReadable) => Err(Failure::ImageDisplayError),
            },
        )
    }
}

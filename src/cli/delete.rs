//! `nook delete`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle;

pub fn run(root: &Path, id: &str, force: bool) -> Result<()> {
    lifecycle::delete(root, id, force)
}

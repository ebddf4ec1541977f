//! `nook start`.

use std::path::Path;

use anyhow::Result;
use nook::container::lifecycle;

pub fn run(root: &Path, id: &str) -> Result<()> {
    lifecycle::start(root, id)
}

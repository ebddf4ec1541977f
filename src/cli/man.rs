//! man/ is generated from the clap definitions: this test renders nook(8)
//! and one nook-<command>(8) per command and fails when man/ is stale.
//! `make man` (NOOK_UPDATE_MAN=1) rewrites the pages.

use std::path::Path;

use clap::CommandFactory;

use super::args::Cli;

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut out)
        .expect("render man page");
    out
}

fn pages() -> Vec<(String, Vec<u8>)> {
    let root = Cli::command().version(env!("CARGO_PKG_VERSION"));
    let mut out = vec![("nook.8".to_string(), render(root.clone()))];
    for sub in root.get_subcommands() {
        // clap names are &'static str without its "string" feature; a test may leak.
        let name: &'static str = format!("nook-{}", sub.get_name()).leak();
        let cmd = sub.clone().name(name).version(env!("CARGO_PKG_VERSION"));
        out.push((format!("{name}.8"), render(cmd)));
    }
    out
}

#[test]
fn man_pages_match_the_cli() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("NOOK_UPDATE_MAN").is_some();
    let mut stale = Vec::new();
    for (name, text) in pages() {
        let path = dir.join(&name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date (run `make man`): {stale:?}"
    );
}

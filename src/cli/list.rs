//! `nook list`: a table like runc's (tab-aligned columns), JSON, or ids.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Result;
use nook::container::Container;
use nook::container::state::OciState;

use super::args::ListFormat;

pub fn run(root: &Path, format: ListFormat, quiet: bool) -> Result<()> {
    let containers = Container::list(root)?;
    if quiet {
        for c in &containers {
            println!("{}", c.state.id);
        }
        return Ok(());
    }
    let rows: Vec<OciState> = containers
        .iter()
        .map(|c| {
            let mut v = c.state.oci(c.status());
            v.owner = owner_name(&c.dir);
            v
        })
        .collect();
    match format {
        ListFormat::Json => {
            println!("{}", serde_json::to_string(&rows)?);
        }
        ListFormat::Table => {
            let mut table = vec![
                ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                    .map(String::from)
                    .to_vec(),
            ];
            for v in rows {
                let bundle = v.bundle.display().to_string();
                table.push(vec![
                    v.id,
                    v.pid.to_string(),
                    v.status,
                    bundle,
                    v.created,
                    v.owner,
                ]);
            }
            print!("{}", format_table(&table));
        }
    }
    Ok(())
}

/// Columns at least 12 wide, 3 spaces of padding, as runc's tabwriter.
fn format_table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

fn owner_name(dir: &Path) -> String {
    let uid = std::fs::metadata(dir).map(|m| m.uid()).unwrap_or(0);
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_runc() {
        let t = format_table(&[
            vec!["ID".into(), "PID".into(), "OWNER".into()],
            vec!["c1".into(), "0".into(), "root".into()],
        ]);
        assert_eq!(
            t,
            "ID          PID         OWNER\nc1          0           root\n"
        );
    }
}

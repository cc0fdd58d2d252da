//! Where the control socket of a tree config is, for `vigil run` (which
//! binds it) and `vigil ctl --config` (which connects to it).
//!
//! `[control] socket` when the config sets it (relative to the working
//! directory), else `$XDG_RUNTIME_DIR/vigil/<name>.sock`, else
//! `vigil-<name>.sock` next to the config file, `<name>` the file's stem
//! ([`vigil_tokio::control::default_socket_path_beside`]). `vigil ctl
//! --config` needs nothing else from the file, so a config whose later
//! edit broke it (a syntax error, an unknown key) can still be controlled:
//! when the config does not load, the socket is read leniently (below)
//! and a warning says so.

use std::path::{Path, PathBuf};

use vigil_config::TreeConfig;

/// The socket of `cfg`, loaded from the file `config`.
pub fn of_config(cfg: &TreeConfig, config: &Path) -> PathBuf {
    cfg.control
        .socket
        .clone()
        .unwrap_or_else(|| vigil_tokio::control::default_socket_path_beside(config, &cfg.name))
}

/// The socket of the config file `config`, for `vigil ctl --config`: as
/// [`of_config`] when the file loads; when it does not, its `socket = "..."`
/// line in a `[control]` table if it has one, else the default for the
/// file's name, with a warning on stderr. An error: the file cannot be read.
pub fn of_config_file(config: &Path) -> Result<PathBuf, String> {
    let error = match vigil_config::load_tree(config) {
        Ok(cfg) => return Ok(of_config(&cfg, config)),
        Err(e) => e,
    };
    let text = std::fs::read_to_string(config).map_err(|_| error.to_string())?;
    let socket = match control_socket_line(&text) {
        Some(s) => PathBuf::from(s),
        None => vigil_tokio::control::default_socket_path_beside(config, &config_name(config)),
    };
    eprintln!(
        "warning: {error}\nwarning: the config does not load; using its control socket {}",
        socket.display()
    );
    Ok(socket)
}

/// The config's name as vigil-config derives it: the file stem.
fn config_name(config: &Path) -> String {
    config
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .map_or_else(|| config.display().to_string(), str::to_owned)
}

/// The value of `socket = "..."` (or `'...'`) in the `[control]` table of
/// a TOML text that may not parse as a whole, or of a top-level
/// `control.socket = "..."`. A string with escapes is not read (`None`).
fn control_socket_line(text: &str) -> Option<String> {
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            table = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let wanted = (table == "control" && key == "socket") || (table.is_empty() && key == "control.socket");
        if wanted {
            return string_value(value.trim());
        }
    }
    None
}

/// A TOML basic or literal string without escapes, then only a comment.
fn string_value(value: &str) -> Option<String> {
    let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let rest = &value[1..];
    let end = rest.find(quote)?;
    let (inner, after) = (&rest[..end], rest[end + 1..].trim());
    let clean = !(quote == '"' && inner.contains('\\')) && (after.is_empty() || after.starts_with('#'));
    (clean && !inner.is_empty()).then(|| inner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_line_is_read_from_a_broken_config() {
        let broken = "[control]\nsocket = \"/run/x.sock\"  # here\n\n[[child]]\nname = \"a\"\ncommand = [\"sleep\"\n";
        assert_eq!(control_socket_line(broken).as_deref(), Some("/run/x.sock"));
        assert_eq!(
            control_socket_line("control.socket = 'a b.sock'\n").as_deref(),
            Some("a b.sock")
        );
        // Only in [control]: a child's key of the same name is not it.
        assert_eq!(control_socket_line("[[child]]\nsocket = \"no.sock\"\n"), None);
        assert_eq!(control_socket_line("[control]\nsocket = \"a\\\\b\"\n"), None);
        assert_eq!(control_socket_line("[control]\nsocket = \"open\n"), None);
        assert_eq!(control_socket_line("[control]\nsocket = 5\n"), None);
        assert_eq!(control_socket_line("[control]\nsocket = \"\"\n"), None);
        assert_eq!(control_socket_line(""), None);
    }

    #[test]
    fn the_name_is_the_file_stem() {
        assert_eq!(config_name(Path::new("etc/web.toml")), "web");
        assert_eq!(config_name(Path::new("web")), "web");
    }
}

//! The check shared by the parser targets: a rejection points into the text.

use vigil_config::ConfigError;

/// `Err` unless `err` names a line and column inside `text` (or just past its
/// end) and displays as `SOURCE:LINE:COLUMN: message`.
pub(crate) fn check(text: &str, source: &str, err: &ConfigError) -> Result<(), String> {
    let lines = text.split('\n').count();
    let (Some(line), Some(column)) = (err.line, err.column) else {
        return Err(format!("error without a line and column: {err}"));
    };
    if line == 0 || line > lines || column == 0 {
        return Err(format!(
            "error at {line}:{column}, outside the {lines} lines of the text: {err}"
        ));
    }
    let shown = err.to_string();
    if !shown.starts_with(&format!("{source}:{line}:{column}: ")) || shown.len() <= source.len() + 6 {
        return Err(format!(
            "error does not display as {source}:{line}:{column}: message: {shown}"
        ));
    }
    Ok(())
}

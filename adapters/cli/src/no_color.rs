//! `NO_COLOR` (no-color.org): set to a non-empty value, it turns off every
//! ANSI colour of vigil's output, even on a terminal. vigil's own colours
//! are those of `vigil run`'s log (tracing-subscriber); clap's help and
//! usage errors follow the same variable by themselves (through
//! `anstream`). `vigil ctl`'s tables have no colour.

/// Whether `NO_COLOR` is set to a non-empty value.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

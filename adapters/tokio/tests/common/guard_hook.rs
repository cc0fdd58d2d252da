//! Makes a test binary able to serve as a process guard.
//!
//! A guard is the running binary executed again, whose `main` must call
//! `guard::enter_if_guard()` first. libtest owns `main` here, so the hook
//! runs from an ELF constructor instead, before `main`: a plain
//! `.init_array` entry runs after the prioritized one with which the
//! standard library records the arguments on glibc, so `std::env::args_os`
//! works in it.

#[used]
#[link_section = ".init_array"]
static ENTER_IF_GUARD: extern "C" fn() = {
    extern "C" fn enter() {
        crate::guard::enter_if_guard();
    }
    enter
};

use std::time::Duration;
use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

#[test]
fn smoke() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(2)
        .child(w("a"))
        .child(w("b").restart(Restart::Temporary))
        .child(ChildSpec::supervisor(
            "s",
            SupervisorSpec::new().child(w("x")).child(w("y")),
        ))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(Duration::from_secs(1));
    h.crash("c");
    h.advance(Duration::from_secs(1));
    h.crash("s/x");
    h.crash("s/x");
    h.crash("a");
    for l in &h.log {
        println!("{l}");
    }
    println!("{:?}", h.engine.stats());
}

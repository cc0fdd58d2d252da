//! The driver's log lines for notices: a failed run is logged at WARN with
//! its path when a subscriber wants only warnings and no one listens to the
//! events (the path is then rendered for the log line alone). Its own test
//! binary: a scoped subscriber (`set_default`) races with tests on other
//! threads over tracing's cached callsite interest.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::Tree;

/// Keeps the message and `path` of each event at WARN or above, and says
/// so through its level hint (so the driver knows nothing more verbose is
/// wanted).
#[derive(Clone, Default)]
struct Warnings(Arc<std::sync::Mutex<Vec<(String, String)>>>);

#[derive(Default)]
struct MessageAndPath {
    message: String,
    path: String,
}

impl tracing::field::Visit for MessageAndPath {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "path" => self.path = format!("{value:?}"),
            _ => {}
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "path" => self.path = value.to_owned(),
            _ => {}
        }
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::WARN
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::WARN)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = MessageAndPath::default();
        event.record(&mut fields);
        self.0.lock().expect("lock").push((fields.message, fields.path));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(start_paused = true)]
async fn a_failed_run_is_logged_at_warn_with_its_path_when_only_warnings_are_wanted() {
    let warnings = Warnings::default();
    // This runtime has one thread, where the driver runs too.
    let _guard = tracing::subscriber::set_default(warnings.clone());
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let sup = Tree::new(SupervisorSpec::new().intensity(5))
        .task(ChildSpec::worker("w"), move |ctx| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    return Err("boom");
                }
                ctx.stopped().await;
                Ok(())
            }
        })
        .start()
        .unwrap();
    // No event stream: the path is rendered for the log line alone.
    for _ in 0..1000 {
        if runs.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(sup.shutdown().await.is_normal());
    let logged = warnings.0.lock().expect("lock").clone();
    assert!(logged.contains(&("exited".to_owned(), "w".to_owned())), "{logged:?}");
}

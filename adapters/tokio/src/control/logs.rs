//! `logs`: a child's recent output ([`crate::recent_output`]), and with
//! `follow` every new line after it. A follower that does not read falls
//! behind on its own queue, never on the child: the lines it missed are
//! counted and sent as one `{"missed": N}` item when it reads again.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::protocol::WireId;
use super::reply::{self, Failure};
use super::session::{Conn, Counted};
use super::shared::Shared;
use super::status;
use crate::recent_output::{self, Snapshot};

/// The lines sent first when the request does not say.
pub(crate) const DEFAULT_LINES: usize = 50;

/// Why `logs` is refused: vigil keeps no output.
fn not_kept() -> Failure {
    Failure::new(
        "unavailable",
        "this vigil keeps no recent output of its children: with `vigil run --output-dir DIR`, each child writes \
         DIR/<path>.out.log and .err.log itself (read those); an embedded tree keeps it only after \
         vigil_tokio::recent_output::enable",
    )
}

/// Whether the tree has a node at `path`.
async fn exists(shared: &Shared, path: &str) -> Result<(), Failure> {
    let nodes = status::walk(&shared.sup).await?;
    if nodes.iter().any(|(p, _, _)| p == path) {
        Ok(())
    } else {
        Err(Failure::new("not_found", format!("no child at `{path}`")))
    }
}

/// `logs` without `follow`: the newest lines, one answer.
pub(crate) async fn answer(shared: &Shared, id: &Option<WireId>, path: &str, lines: usize) -> bytes::Bytes {
    if !recent_output::is_enabled() {
        return reply::error(id, &not_kept());
    }
    let r = match recent_output::snapshot(path, lines) {
        Some(s) => Ok(s),
        None => exists(shared, path).await.map(|()| Snapshot {
            lines: Vec::new(),
            dropped: 0,
        }),
    };
    reply::result(id, &r)
}

/// `logs` with `follow`: the newest lines as the answer, then each new line
/// as an item until the child is removed (its ring is dropped), the tree
/// is down, or the client is gone. `Err` (answered by the caller) for a
/// path the tree does not have.
pub(crate) async fn follow(
    shared: &Arc<Shared>,
    conn: &Conn,
    id: Option<WireId>,
    path: String,
    lines: usize,
) -> Result<(), Failure> {
    if !recent_output::is_enabled() {
        return Err(not_kept());
    }
    if recent_output::snapshot(&path, 0).is_none() {
        exists(shared, &path).await?;
    }
    let (first, mut rx) = recent_output::follow(&path, lines).ok_or_else(not_kept)?;
    let sup = shared.sup.clone();
    let out = conn.out.clone();
    let gone = conn.gone.clone();
    let running = Counted::new(&conn.streams);
    tokio::spawn(async move {
        let _running = running;
        let stream = async {
            if out.send(reply::ok(&id, &first)).await.is_err() {
                return;
            }
            loop {
                let line = tokio::select! {
                    biased;
                    got = rx.recv() => match got {
                        Ok(l) => reply::item(&id, &*l),
                        Err(RecvError::Lagged(n)) => reply::item(&id, &json!({ "missed": n })),
                        Err(RecvError::Closed) => break,
                    },
                    _ = sup.wait() => break,
                };
                if out.send(line).await.is_err() {
                    return;
                }
            }
            let _ = out.send(reply::end(&id)).await;
        };
        tokio::select! {
            () = stream => {}
            () = gone.cancelled() => {}
        }
    });
    Ok(())
}

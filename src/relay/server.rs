//! Accepting go's connections: a plain thread blocks in accept(), and the async
//! runtime (with the HTTP client) is built only when the first connection arrives.

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

use super::Shared;
use super::forward::{self, Body};

/// Worker threads for the relay: downloads are I/O bound.
const WORKERS: usize = 2;

pub fn spawn(listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("goshim-relay".into())
        .spawn(move || {
            let runtime: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let rt = runtime.get_or_init(|| {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(WORKERS)
                        .thread_name("goshim-relay-io")
                        .enable_all()
                        .build()
                        .expect("tokio runtime")
                });
                let shared = shared.clone();
                rt.spawn(async move {
                    let _ = conn.set_nonblocking(true);
                    let _ = conn.set_nodelay(true);
                    let Ok(tcp) = tokio::net::TcpStream::from_std(conn) else {
                        return;
                    };
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        })?;
    Ok(())
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let prefix = format!("/{}/", shared.token);
    let Some(rel) = req.uri().path().strip_prefix(&prefix) else {
        // Wrong or missing token: say nothing about what is here.
        return Ok(forward::plain(StatusCode::NOT_FOUND, "not found\n".into()));
    };
    if req.method() != hyper::Method::GET {
        return Ok(forward::plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET\n".into(),
        ));
    }
    Ok(forward::forward(shared.clone(), rel.to_string()).await)
}

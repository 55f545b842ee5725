//! Serving go's connections: one thread running a single-threaded async
//! runtime. The runtime is built before go is given the relay's URL, so a
//! failure there falls back to the GOPROXY list instead of failing go; the
//! HTTP client (TLS roots and all) is built only on go's first request.

use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;

use super::Shared;
use super::forward::{self, Body};

/// The relay's runtime. One thread is plenty: the relay only moves bytes.
pub fn runtime(inject: Option<&str>) -> std::io::Result<Runtime> {
    if inject == Some("runtime") {
        return Err(std::io::Error::other("injected runtime failure"));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

pub fn spawn(runtime: Runtime, listener: TcpListener, shared: Arc<Shared>) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("goshim-relay".into())
        .spawn(move || runtime.block_on(serve(listener, shared)))?;
    Ok(())
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: wait instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(shared.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
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

//! Starting and stopping the simulator. Connections are served by our own hyper loop (not
//! `axum::serve`) so that a timeout fault can close a connection without sending anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::admin;
use crate::api::{self, DropConnection};
use crate::auth::ApiKey;
use crate::callbacks::CallbackTarget;
use crate::config::Config;
use crate::sim::Sim;
use crate::state::{CallbackAttempt, Fault, FaultMode, FaultStats, Notification};

/// A running simulator; dropping it stops the server too.
pub struct SimHandle {
    sim: Arc<Sim>,
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Starts the simulator on `listener` and serves it in a background task.
pub async fn spawn(config: Config, listener: TcpListener) -> anyhow::Result<SimHandle> {
    let key = ApiKey::parse(&config.api_key).map_err(anyhow::Error::msg)?;
    let addr = listener.local_addr()?;
    let base_url = base_url_for(addr);
    let sim = Arc::new(Sim::new(&config, &key, base_url.clone())?);
    let app = api::router(Arc::clone(&sim))
        .merge(admin::router(Arc::clone(&sim)))
        .fallback(api::not_found);
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(accept_loop(listener, app, rx));
    tracing::info!(%addr, rate_limit_per_min = config.rate_limit_per_min, "notify-sim started");
    Ok(SimHandle {
        sim,
        base_url,
        shutdown: Some(tx),
        server: Some(server),
    })
}

/// `http://127.0.0.1:PORT` even when bound to all interfaces.
fn base_url_for(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

async fn accept_loop(listener: TcpListener, app: Router, mut shutdown: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Typically out of file descriptors: back off rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(stream, app.clone()));
            }
        }
    }
    connections.abort_all();
}

/// Serves one connection; a response marked [`DropConnection`] becomes a service error, which
/// makes hyper close the connection without writing a response.
async fn serve_connection(stream: tokio::net::TcpStream, app: Router) {
    let tower = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let response = hyper::service::Service::call(&tower, request);
        async move {
            let response = match response.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if response.extensions().get::<DropConnection>().is_some() {
                return Err(std::io::Error::other("fault injection: connection dropped"));
            }
            Ok(response)
        }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended");
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, the base URL to give a Notify client.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every notification created (answered 201), oldest first.
    pub fn received(&self) -> Vec<Notification> {
        admin::all_notifications(&self.sim)
    }

    /// Every callback attempt so far, in order.
    pub fn callback_log(&self) -> Vec<CallbackAttempt> {
        self.sim.lock().callback_log.clone()
    }

    /// Points callbacks somewhere else (`None` turns them off); applies to statuses reached from now on.
    pub fn set_callback(&self, url: Option<String>, bearer_token: Option<String>) {
        self.sim
            .set_callback_target(url.map(|url| CallbackTarget { url, bearer_token }));
    }

    /// Waits until no notification awaits its final status and no callback is in flight or
    /// waiting to retry; `false` if that did not happen within `timeout`.
    pub async fn wait_callbacks_idle(&self, timeout: Duration) -> bool {
        self.sim.wait_idle(timeout).await
    }

    /// Queues `count` `mode` faults for the next sends that would otherwise succeed, as
    /// `POST /_sim/faults {"mode", "count", "hold_ms"}` does; `hold` is how long `timeout`,
    /// `timeout_after_create` and `latency` hold the request (`None`: 30 s for the timeouts,
    /// 2 s for latency). E.g. `sim.inject(FaultMode::Error429, 5, None)` for a burst of 429s.
    pub fn inject(&self, mode: FaultMode, count: u32, hold: Option<Duration>) -> FaultStats {
        self.inject_fault(Fault {
            hold,
            ..Fault::new(mode).count(count)
        })
    }

    /// Makes every send that would otherwise succeed get a `mode` fault for the next `window`
    /// (from now), as `POST /_sim/faults {"mode", "for_ms", "hold_ms"}` does.
    pub fn inject_for(
        &self,
        mode: FaultMode,
        window: Duration,
        hold: Option<Duration>,
    ) -> FaultStats {
        self.inject_fault(Fault {
            hold,
            ..Fault::new(mode).for_duration(window)
        })
    }

    /// Injects any fault (count or window, on sends, reads or both), e.g.
    /// `sim.inject_fault(Fault::new(FaultMode::Error500).on(FaultOn::Get).count(2))`.
    /// Returns the fault picture afterwards.
    pub fn inject_fault(&self, fault: Fault) -> FaultStats {
        self.sim.inject(fault)
    }

    /// Forgets queued faults and open windows (`{"mode": "clear"}`); fired counts stay.
    pub fn clear_faults(&self) {
        self.sim.clear_faults();
    }

    /// Faults queued, windows open and faults fired per mode (`/_sim/stats` `faults`).
    pub fn fault_stats(&self) -> FaultStats {
        self.sim.fault_stats()
    }

    /// Forgets notifications, faults, the rate-limit bucket, daily counts and the callback log,
    /// and cancels pending status changes and callbacks. The callback URL is kept.
    pub fn reset(&self) {
        self.sim.reset();
    }

    /// Stops serving and cancels all background work.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.sim.cancel_background_work();
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

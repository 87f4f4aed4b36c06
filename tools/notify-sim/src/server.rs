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
use uuid::Uuid;

use crate::admin;
use crate::api::{self, DropConnection};
use crate::callbacks::CallbackTarget;
use crate::config::Config;
use crate::sim::{Service, Sim};
use crate::state::{CallbackAttempt, Fault, FaultMode, FaultStats, Notification};
use crate::templates::Template;

/// A running simulator; dropping it stops the server too.
pub struct SimHandle {
    sim: Arc<Sim>,
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Starts the simulator on `listener` and serves it in a background task. Fails if an API key
/// does not parse or two services share a service id.
pub async fn spawn(config: Config, listener: TcpListener) -> anyhow::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let base_url = base_url_for(addr);
    let sim = Arc::new(Sim::new(&config, base_url.clone())?);
    let app = api::router(Arc::clone(&sim))
        .merge(admin::router(Arc::clone(&sim)))
        .fallback(api::not_found);
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(accept_loop(listener, app, rx));
    tracing::info!(
        %addr,
        rate_limit_per_min = config.rate_limit_per_min,
        services = sim.services().len(),
        "notify-sim started"
    );
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

    /// The default (first) service.
    pub fn default_service(&self) -> ServiceHandle {
        self.handle(self.sim.default_service())
    }

    /// The service with this id (its API key's service id), if the simulator has it.
    pub fn service(&self, service_id: Uuid) -> Option<ServiceHandle> {
        self.sim.service(service_id).map(|s| self.handle(s))
    }

    /// Every service's id, the default one first.
    pub fn service_ids(&self) -> Vec<Uuid> {
        self.sim.services().iter().map(|s| s.id).collect()
    }

    fn handle(&self, service: &Arc<Service>) -> ServiceHandle {
        ServiceHandle {
            service: Arc::clone(service),
        }
    }

    /// Every notification the default service created (answered 201), oldest first.
    pub fn received(&self) -> Vec<Notification> {
        admin::all_notifications(&self.sim)
    }

    /// Every notification service `service_id` created, oldest first (empty for a service
    /// the simulator does not have).
    pub fn notifications_for(&self, service_id: Uuid) -> Vec<Notification> {
        self.service(service_id)
            .map(|s| s.received())
            .unwrap_or_default()
    }

    /// Every callback attempt of the default service so far, in order.
    pub fn callback_log(&self) -> Vec<CallbackAttempt> {
        self.default_service().callback_log()
    }

    /// Points the default service's callbacks somewhere else (`None` turns them off); applies
    /// to statuses reached from now on.
    pub fn set_callback(&self, url: Option<String>, bearer_token: Option<String>) {
        self.default_service().set_callback(url, bearer_token);
    }

    /// Creates or replaces a template on the default service (see [`ServiceHandle::put_template`]).
    pub fn put_template(&self, template: Template) -> Result<(), String> {
        self.default_service().put_template(template)
    }

    /// Waits until no notification of any service awaits its final status and no callback is
    /// in flight or waiting to retry; `false` if that did not happen within `timeout`.
    pub async fn wait_callbacks_idle(&self, timeout: Duration) -> bool {
        self.sim.wait_idle(timeout).await
    }

    /// Queues `count` `mode` faults for the default service's next sends that would otherwise
    /// succeed, as `POST /_sim/faults {"mode", "count", "hold_ms"}` does; `hold` is how long
    /// `timeout`, `timeout_after_create` and `latency` hold the request (`None`: 30 s for the
    /// timeouts, 2 s for latency). E.g. `sim.inject(FaultMode::Error429, 5, None)` for a burst
    /// of 429s.
    pub fn inject(&self, mode: FaultMode, count: u32, hold: Option<Duration>) -> FaultStats {
        self.default_service().inject(mode, count, hold)
    }

    /// Makes every send of the default service that would otherwise succeed get a `mode`
    /// fault for the next `window` (from now), as `POST /_sim/faults {"mode", "for_ms",
    /// "hold_ms"}` does.
    pub fn inject_for(
        &self,
        mode: FaultMode,
        window: Duration,
        hold: Option<Duration>,
    ) -> FaultStats {
        self.default_service().inject_for(mode, window, hold)
    }

    /// Injects any fault on the default service (count or window, on sends, reads or both), e.g.
    /// `sim.inject_fault(Fault::new(FaultMode::Error500).on(FaultOn::Get).count(2))`.
    /// Returns the fault picture afterwards.
    pub fn inject_fault(&self, fault: Fault) -> FaultStats {
        self.default_service().inject_fault(fault)
    }

    /// Forgets the default service's queued faults and open windows (`{"mode": "clear"}`);
    /// fired counts stay.
    pub fn clear_faults(&self) {
        self.default_service().clear_faults();
    }

    /// The default service's faults queued, windows open and faults fired per mode
    /// (`/_sim/stats` `faults`).
    pub fn fault_stats(&self) -> FaultStats {
        self.default_service().fault_stats()
    }

    /// For every service: forgets notifications, faults, the rate-limit bucket, daily counts
    /// and the callback log, and cancels pending status changes and callbacks. Callback URLs
    /// and templates are kept.
    pub fn reset(&self) {
        self.sim.reset_all();
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

/// One service of a running simulator, from [`SimHandle::service`] or
/// [`SimHandle::default_service`]: the same controls as `SimHandle`'s, for this service only.
#[derive(Clone)]
pub struct ServiceHandle {
    service: Arc<Service>,
}

impl ServiceHandle {
    /// The service id.
    pub fn id(&self) -> Uuid {
        self.service.id
    }

    /// Every notification this service created (answered 201), oldest first.
    pub fn received(&self) -> Vec<Notification> {
        self.service.notifications()
    }

    /// Every callback attempt of this service so far, in order.
    pub fn callback_log(&self) -> Vec<CallbackAttempt> {
        self.service.callback_log()
    }

    /// Points this service's callbacks somewhere else (`None` turns them off).
    pub fn set_callback(&self, url: Option<String>, bearer_token: Option<String>) {
        self.service
            .set_callback_target(url.map(|url| CallbackTarget { url, bearer_token }));
    }

    /// Creates or replaces a template (as `POST /_sim/templates`). From the first template on,
    /// this service's sends must name one of its templates of the right type, with every
    /// placeholder filled. `Err` says why Notify would not have such a template (an SMS
    /// subject, a missing email subject, an empty body or name, version 0).
    pub fn put_template(&self, template: Template) -> Result<(), String> {
        template.check()?;
        self.service.put_template(template);
        Ok(())
    }

    /// The service's templates, in the order first created.
    pub fn templates(&self) -> Vec<Template> {
        self.service
            .templates()
            .into_iter()
            .map(|t| t.template)
            .collect()
    }

    /// Removes a template; `false` if there was none with that id.
    pub fn remove_template(&self, id: Uuid) -> bool {
        self.service.remove_template(id)
    }

    /// Removes every template: sends are accepted with any template id again.
    pub fn clear_templates(&self) {
        self.service.clear_templates();
    }

    /// As [`SimHandle::inject`], for this service.
    pub fn inject(&self, mode: FaultMode, count: u32, hold: Option<Duration>) -> FaultStats {
        self.inject_fault(Fault {
            hold,
            ..Fault::new(mode).count(count)
        })
    }

    /// As [`SimHandle::inject_for`], for this service.
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

    /// As [`SimHandle::inject_fault`], for this service.
    pub fn inject_fault(&self, fault: Fault) -> FaultStats {
        self.service.inject(fault)
    }

    /// Forgets this service's queued faults and open windows.
    pub fn clear_faults(&self) {
        self.service.clear_faults();
    }

    /// This service's fault picture.
    pub fn fault_stats(&self) -> FaultStats {
        self.service.fault_stats()
    }

    /// Resets this service only (as [`SimHandle::reset`] does for all).
    pub fn reset(&self) {
        self.service.reset();
    }
}

impl std::fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("id", &self.service.id)
            .finish()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

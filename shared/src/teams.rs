//! Each team's own GOV.UK Notify service.
//!
//! A SAIS provider's teams each have their own Notify service: their own templates, senders,
//! API key, callback token, and rate and daily limits. A team's `team.json` names the secrets
//! holding its key and token (under the deployment's team-secret path, `<prefix>/teams/<team>/`)
//! and optionally its service's rate limit; a team that names none uses the deployment's
//! default service.
//!
//! [`TeamDirectory`] reads a team's settings and the secrets they name, cached per process for
//! [`CACHE_TTL`] so that a rotated key or token is picked up within minutes without a
//! redeploy. [`TeamServices`] turns them into a Notify client and a pacer per team; two teams
//! sharing one Notify service share its pacer's bucket (`NOTIFY#<service_id>`), so the
//! service's limit holds across them.
//!
//! Every failure here is our own infrastructure's or set-up's (the table, Secrets Manager, a
//! secret that is missing or holds no key): it is a [`TeamError`], retried by the caller and
//! never recorded against a family.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use uuid::Uuid;

use crate::dispatch::ports::{NotifyService, NotifyServices};
use crate::files::team_file::TeamSettings;
use crate::notify::{ApiKey, NotifyClient};
use crate::store::pacer::Pacer;
use crate::store::{Store, StoreError};
use crate::uploads::TeamCode;

/// How long a team's settings and secrets are kept before they are read again.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// The most teams whose settings are cached at once.
const MAX_CACHED_TEAMS: usize = 1024;

/// A team's Notify service could not be resolved. `Display` names the team's setting or the
/// secret, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// The team's settings could not be read from the table.
    #[error("team settings: {0}")]
    Settings(#[source] StoreError),
    /// A secret the team's settings (or the deployment) name cannot be read.
    #[error("secret {secret_id} {reason}")]
    Secret {
        /// The secret's name or ARN.
        secret_id: String,
        /// What went wrong (never the value).
        reason: String,
        /// Secrets Manager has no secret of that name.
        not_found: bool,
    },
    /// The team's settings name a secret outside the team's own folder, or not named as its
    /// kind.
    #[error(
        "the team's {field} names a secret the service does not read (outside {folder}, or not named as its kind)"
    )]
    OutsideFolder {
        /// The setting.
        field: &'static str,
        /// The team's folder.
        folder: String,
    },
    /// The client for the team's service could not be built.
    #[error("Notify client: {0}")]
    Client(#[source] crate::notify::NotifyConfigError),
}

struct Cached<T> {
    at: Instant,
    value: T,
}

/// Teams' settings and the secrets they name, cached per process for [`CACHE_TTL`].
pub struct TeamDirectory {
    store: Store,
    secrets: aws_sdk_secretsmanager::Client,
    /// The team-secret path (`TEAM_SECRET_PREFIX`): a team's settings may name only secrets
    /// under its own folder of it.
    secret_prefix: Option<String>,
    ttl: Duration,
    settings: Mutex<HashMap<TeamCode, Cached<Option<TeamSettings>>>>,
    values: Mutex<HashMap<String, Cached<String>>>,
}

impl std::fmt::Debug for TeamDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamDirectory")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TeamDirectory {
    /// Settings from `store`, secrets from `secrets`.
    pub fn new(store: Store, secrets: aws_sdk_secretsmanager::Client) -> Self {
        Self {
            store,
            secrets,
            secret_prefix: None,
            ttl: CACHE_TTL,
            settings: Mutex::default(),
            values: Mutex::default(),
        }
    }

    /// Reads for a team only the secrets under `<prefix><team>/` (as IAM allows only
    /// `<prefix>*`): settings naming another team's secret are refused, not used.
    pub fn with_secret_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.secret_prefix = Some(prefix.into());
        self
    }

    /// Changes how long settings and secrets are cached (a test rotating a secret uses 0).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The team's settings, if it has uploaded a `team.json`.
    pub async fn settings(&self, team: &TeamCode) -> Result<Option<TeamSettings>, TeamError> {
        if let Some(hit) = self.settings.lock().await.get(team)
            && hit.at.elapsed() < self.ttl
        {
            return Ok(hit.value.clone());
        }
        let value = self
            .store
            .team_settings(team)
            .await
            .map_err(TeamError::Settings)?;
        // Checked at upload too; settings stored before the rule, or by hand, are refused here.
        if let (Some(settings), Some(prefix)) = (&value, &self.secret_prefix)
            && let Some((field, _, _)) = settings.secrets_outside(prefix, team.as_str()).first()
        {
            return Err(TeamError::OutsideFolder {
                field,
                folder: format!("{prefix}{team}/"),
            });
        }
        let mut cache = self.settings.lock().await;
        // Anyone can call the webhook with any team's path: the cache must not grow without
        // bound on made-up teams.
        if cache.len() >= MAX_CACHED_TEAMS {
            cache.retain(|_, hit| hit.at.elapsed() < self.ttl);
            if cache.len() >= MAX_CACHED_TEAMS {
                cache.clear();
            }
        }
        cache.insert(
            team.clone(),
            Cached {
                at: Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    /// A secret's value (its name or ARN).
    pub async fn secret(&self, secret_id: &str) -> Result<String, TeamError> {
        if let Some(hit) = self.values.lock().await.get(secret_id)
            && hit.at.elapsed() < self.ttl
        {
            return Ok(hit.value.clone());
        }
        let value = crate::aws::secret_value(&self.secrets, secret_id)
            .await
            .map_err(|e| TeamError::Secret {
                secret_id: secret_id.to_owned(),
                reason: e.reason,
                not_found: e.not_found,
            })?;
        self.values.lock().await.insert(
            secret_id.to_owned(),
            Cached {
                at: Instant::now(),
                value: value.clone(),
            },
        );
        Ok(value)
    }

    /// Forgets what is cached of `team` (its settings were just replaced).
    pub async fn forget(&self, team: &TeamCode) {
        self.settings.lock().await.remove(team);
    }

    /// The bearer tokens a team's Notify service may send with its callbacks: those in the
    /// secret its settings name (one per line, so a token can be rotated without losing a
    /// callback: the new one is added, set in Notify, then the old one removed), or `default`
    /// for a team that names none.
    pub async fn callback_tokens(
        &self,
        team: &TeamCode,
        default: &str,
    ) -> Result<Vec<String>, TeamError> {
        let secret = self
            .settings(team)
            .await?
            .and_then(|s| s.callback_token_secret);
        let value = match secret {
            Some(secret_id) => self.secret(&secret_id).await?,
            None => default.to_owned(),
        };
        Ok(tokens(&value))
    }
}

/// The tokens in a secret's value: one per line, blank lines ignored.
pub fn tokens(value: &str) -> Vec<String> {
    value
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The deployment's Notify settings every team's service is built from.
#[derive(Clone)]
pub struct NotifyDefaults {
    /// Notify's API (or the simulator's).
    pub base_url: String,
    /// The deployment's default key, for teams that name none.
    pub key: ApiKey,
    /// The deployment's default rate limit, requests a minute.
    pub rate_limit_per_min: u32,
    /// Each request's timeout.
    pub timeout: Duration,
}

impl NotifyDefaults {
    /// A client with the default key.
    pub fn client(&self) -> Result<NotifyClient, crate::notify::NotifyConfigError> {
        NotifyClient::new(&self.base_url, self.key.clone(), self.timeout)
    }
}

/// Each team's Notify client and pacer, built from its settings and cached.
pub struct TeamServices {
    directory: Arc<TeamDirectory>,
    defaults: NotifyDefaults,
    dynamodb: crate::store::Client,
    table: String,
    services: Mutex<HashMap<TeamCode, Built>>,
    /// One pacer per Notify service, whichever teams share it.
    pacers: Mutex<HashMap<Uuid, Pacer>>,
}

impl std::fmt::Debug for TeamServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamServices")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl TeamServices {
    /// Services for the teams in `directory`; pacers' buckets in `table`.
    pub fn new(
        directory: Arc<TeamDirectory>,
        defaults: NotifyDefaults,
        dynamodb: crate::store::Client,
        table: impl Into<String>,
    ) -> Self {
        Self {
            directory,
            defaults,
            dynamodb,
            table: table.into(),
            services: Mutex::default(),
            pacers: Mutex::default(),
        }
    }

    /// The team directory the services are built from.
    pub fn directory(&self) -> &TeamDirectory {
        &self.directory
    }

    /// Forgets what is cached of `team` (its settings were just replaced): the next use reads
    /// them, and the secrets they name, again.
    pub async fn forget(&self, team: &TeamCode) {
        self.directory.forget(team).await;
        self.services.lock().await.remove(team);
    }

    /// The key and rate limit the team's settings give now (from the directory's cache).
    async fn resolve(&self, team: &TeamCode) -> Result<(ApiKey, u32), TeamError> {
        let settings = self.directory.settings(team).await?;
        let key = match settings
            .as_ref()
            .and_then(|s| s.notify_api_key_secret.as_deref())
        {
            Some(secret_id) => {
                let value = self.directory.secret(secret_id).await?;
                ApiKey::parse(value.trim()).map_err(|e| TeamError::Secret {
                    secret_id: secret_id.to_owned(),
                    reason: format!("does not hold a Notify API key: {e}"),
                    not_found: false,
                })?
            }
            None => self.defaults.key.clone(),
        };
        let limit = settings
            .as_ref()
            .and_then(|s| s.notify_rate_limit_per_min)
            .unwrap_or(self.defaults.rate_limit_per_min);
        Ok((key, limit))
    }

    /// The pacer of the service `service_id` at `limit`, one per service in this process.
    async fn pacer(&self, service_id: Uuid, limit: u32) -> Pacer {
        let mut pacers = self.pacers.lock().await;
        let stale = pacers
            .get(&service_id)
            .is_none_or(|p| p.limit_per_min() != limit);
        if stale {
            pacers.insert(
                service_id,
                Pacer::new(
                    self.dynamodb.clone(),
                    &self.table,
                    format!("NOTIFY#{service_id}"),
                    limit,
                ),
            );
        }
        pacers[&service_id].clone()
    }
}

impl NotifyServices for TeamServices {
    type Notify = NotifyClient;
    type Pacer = Pacer;

    /// The team's service as its settings and secrets give it now: a client is built again
    /// only when the key or the limit changed, so a rotated key is used as soon as the
    /// directory reads it again (within [`CACHE_TTL`]).
    async fn for_team(&self, team: &TeamCode) -> Result<Arc<NotifyService>, TeamError> {
        let (key, limit) = self.resolve(team).await?;
        if let Some(built) = self.services.lock().await.get(team)
            && built.key == key
            && built.limit == limit
        {
            return Ok(Arc::clone(&built.service));
        }
        let service_id = key.service_id();
        let client = NotifyClient::new(&self.defaults.base_url, key.clone(), self.defaults.timeout)
            .map_err(TeamError::Client)?;
        let service = Arc::new(NotifyService {
            notify: client,
            pacer: self.pacer(service_id, limit).await,
        });
        tracing::debug!(team = team.as_str(), %service_id, "team's Notify service resolved");
        self.services.lock().await.insert(
            team.clone(),
            Built {
                key,
                limit,
                service: Arc::clone(&service),
            },
        );
        Ok(service)
    }
}

/// A team's service as built, with the key and limit it was built from.
struct Built {
    key: ApiKey,
    limit: u32,
    service: Arc<NotifyService>,
}

#[cfg(test)]
mod tests {
    use super::tokens;

    #[test]
    fn a_token_secret_may_hold_the_new_and_the_old_token_during_a_rotation() {
        assert_eq!(
            tokens("new-token\n old-token \n\n"),
            ["new-token", "old-token"]
        );
        assert!(tokens(" \n").is_empty());
    }
}

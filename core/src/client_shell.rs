//! The clients, written once: `vault-key-ureq` expands the shell and the method list
//! blocking, `vault-key-hyper` async, so a client setting, an endpoint or a ceremony is
//! added (and documented) in one place.
//!
//! [`client_shell!`](crate::client_shell) makes the client type itself (its settings, its
//! target, the stack it sends through) around the crate's `Stack`; the method list
//! ([`client_methods!`](crate::client_methods)) needs `execute`, `stack` (the HTTP stack by
//! its own type, so that the async futures stay `Send`), `target`, `with_target`,
//! `with_dialect` and `pause` (a sleep on its runtime) methods, `Clone`, and an `Error` type
//! in scope, all of which the shell provides. The macros are hidden from the docs; the
//! methods they make are documented on each client.

/// `$e`, awaited in the async form.
#[doc(hidden)]
#[macro_export]
macro_rules! __client_wait {
    (blocking, $e:expr) => {
        $e
    };
    (async, $e:expr) => {
        $e.await
    };
}

/// One method, `fn` or `async fn`, returning `Result<$out, Error>`; or, in the `forward`
/// form, a blocking `fn` that hands the call to the caller's `forward_call!` (see
/// [`client_methods!`](crate::client_methods)).
#[doc(hidden)]
#[macro_export]
macro_rules! __client_fn {
    (forward, $(#[$m:meta])* fn $name:ident(&$s:ident $(, $a:ident: $t:ty)* $(,)?) -> Self $body:block) => {
        $(#[$m])*
        pub fn $name(&$s $(, $a: $t)*) -> ::core::result::Result<Self, Error> {
            forward_call!($s, $name($($a),*) -> Self)
        }
    };
    (forward, $(#[$m:meta])* fn $name:ident(&$s:ident $(, $a:ident: $t:ty)* $(,)?) -> Option<Self> $body:block) => {
        $(#[$m])*
        pub fn $name(&$s $(, $a: $t)*) -> ::core::result::Result<Option<Self>, Error> {
            forward_call!($s, $name($($a),*) -> Option<Self>)
        }
    };
    (forward, $(#[$m:meta])* fn $name:ident(&$s:ident $(, $a:ident: $t:ty)* $(,)?) -> $out:ty $body:block) => {
        $(#[$m])*
        pub fn $name(&$s $(, $a: $t)*) -> ::core::result::Result<$out, Error> {
            forward_call!($s, $name($($a),*))
        }
    };
    (blocking, $(#[$m:meta])* fn $name:ident(&$s:ident $(, $a:ident: $t:ty)* $(,)?) -> $out:ty $body:block) => {
        $(#[$m])*
        pub fn $name(&$s $(, $a: $t)*) -> ::core::result::Result<$out, Error> $body
    };
    (async, $(#[$m:meta])* fn $name:ident(&$s:ident $(, $a:ident: $t:ty)* $(,)?) -> $out:ty $body:block) => {
        $(#[$m])*
        pub async fn $name(&$s $(, $a: $t)*) -> ::core::result::Result<$out, Error> $body
    };
}

/// The client type around the crate's HTTP stack `$stack` (built from a
/// [`ClientConfig`](crate::transport::config::ClientConfig) by `$stack::new`), with every
/// method of [`client_methods!`](crate::client_methods); `$sleep` pauses between two reads
/// of a polling method (awaited in the async form), `$doc` says what the client is.
#[doc(hidden)]
#[macro_export]
macro_rules! client_shell {
    ($mode:ident, $stack:ty, sleep = $sleep:path, $doc:literal) => {
        /// What a call can fail with: [`ExecuteError::Core`](vault_key_core::ExecuteError::Core)
        /// (the server refused, the answer could not be decoded, the input was invalid) or
        /// [`ExecuteError::Transport`](vault_key_core::ExecuteError::Transport) (connect,
        /// timeout, TLS, body too large, redirect).
        pub type Error = $crate::ExecuteError<$crate::transport::TransportError>;

        /// Builds a [`Client`]; see [`ClientBuilder`](vault_key_core::transport::config::ClientBuilder)
        /// for every setting.
        pub type Builder = $crate::transport::config::ClientBuilder<Client>;

        #[doc = $doc]
        #[derive(Clone)]
        pub struct Client {
            inner: ::std::sync::Arc<ClientInner>,
        }

        struct ClientInner {
            target: $crate::Target,
            http: $crate::transport::redirect::FollowRedirects<$stack>,
            warnings: ::std::vec::Vec<$crate::transport::config::ConfigWarning>,
        }

        impl ::std::fmt::Debug for Client {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("Client")
                    .field("target", &self.inner.target)
                    .finish_non_exhaustive()
            }
        }

        impl $crate::transport::config::FromClientConfig for Client {
            type Error = Error;

            fn from_config(config: $crate::transport::config::ClientConfig) -> Result<Self, Error> {
                let warnings = config.warnings();
                let stack = <$stack>::new(&config)?;
                let http =
                    $crate::transport::redirect::FollowRedirects::new(stack, config.redirects);
                Ok(Self::from_parts(config.target, http, warnings))
            }
        }

        impl Client {
            fn from_parts(
                target: $crate::Target,
                http: $crate::transport::redirect::FollowRedirects<$stack>,
                warnings: ::std::vec::Vec<$crate::transport::config::ConfigWarning>,
            ) -> Self {
                Self {
                    inner: ::std::sync::Arc::new(ClientInner {
                        target,
                        http,
                        warnings,
                    }),
                }
            }

            /// A client for `address` with default settings and nothing read from the
            /// environment.
            pub fn new(address: &str) -> Result<Self, Error> {
                Self::builder().address(address).build()
            }

            /// A client configured from the environment the Vault CLI reads (`VAULT_ADDR`,
            /// `VAULT_TOKEN`, `VAULT_NAMESPACE`, `VAULT_CACERT`, `VAULT_CLIENT_CERT`, ..., or
            /// their `BAO_` forms), with the token from `~/.vault-token` (or
            /// `BAO_TOKEN_PATH`) when no token variable is set; see
            /// [`vault_key_core::transport::config`]. [`warnings`](Self::warnings) says what
            /// the environment weakened.
            pub fn from_env() -> Result<Self, Error> {
                Self::builder()
                    .env(|name| ::std::env::var(name).ok())
                    .token_file_reader(|path| ::std::fs::read(path))
                    .build()
            }

            /// Settings to build a client from; explicit settings win over the environment.
            pub fn builder() -> Builder {
                Builder::new()
            }

            /// The server and identity requests go to.
            pub fn target(&self) -> &$crate::Target {
                &self.inner.target
            }

            /// The same client (sharing its pool) with another target: another token,
            /// namespace or dialect. Redirects and limits stay as configured.
            pub fn with_target(&self, target: $crate::Target) -> Self {
                Self::from_parts(target, self.inner.http.clone(), self.inner.warnings.clone())
            }

            /// What the settings weakened, for the application to show: certificates not
            /// verified (`VAULT_SKIP_VERIFY`, `danger_accept_invalid_certs`). The library
            /// logs nothing itself.
            pub fn warnings(&self) -> &[$crate::transport::config::ConfigWarning] {
                &self.inner.warnings
            }

            /// The same client speaking `dialect`.
            pub fn with_dialect(&self, dialect: $crate::Dialect) -> Self {
                self.with_target(self.target().clone().with_dialect(dialect))
            }

            /// The same client sending `token`.
            pub fn with_token(&self, token: $crate::Token) -> Self {
                self.with_target(self.target().clone().with_token(token))
            }

            /// The redirect rules in force (which hosts the token may follow a redirect
            /// to); see [`RedirectPolicy`](vault_key_core::transport::redirect::RedirectPolicy).
            pub fn redirect_policy(&self) -> &$crate::transport::redirect::RedirectPolicy {
                self.inner.http.policy()
            }

            $crate::__client_shell_mode!($mode, $sleep);

            /// The HTTP stack by its own type, for the methods below.
            fn stack(&self) -> &$crate::transport::redirect::FollowRedirects<$stack> {
                &self.inner.http
            }

            // Every operation and ceremony, written once for both clients.
            $crate::client_methods!($mode);
        }
    };
}

/// The shell's methods that differ by mode: the stack's trait, `execute` and `pause`.
#[doc(hidden)]
#[macro_export]
macro_rules! __client_shell_mode {
    (blocking, $sleep:path) => {
        /// The HTTP stack (with redirects followed), for the core's run loop
        /// ([`vault_key_core::run`]) and its ceremony drivers.
        pub fn http_client(
            &self,
        ) -> &impl $crate::HttpClient<Error = $crate::transport::TransportError> {
            &self.inner.http
        }

        /// Sends any operation and decodes its answer.
        pub fn execute<O: $crate::Operation + ?Sized>(
            &self,
            operation: &O,
        ) -> Result<O::Output, Error> {
            $crate::execute(&self.inner.http, &self.inner.target, operation)
        }

        /// Waits between two reads of a polling method.
        fn pause(&self, duration: ::std::time::Duration) {
            $sleep(duration)
        }
    };
    (async, $sleep:path) => {
        /// The HTTP stack (with redirects followed), for the core's run loop
        /// ([`vault_key_core::run`]) and its ceremony drivers.
        pub fn http_client(
            &self,
        ) -> &impl $crate::AsyncHttpClient<Error = $crate::transport::TransportError> {
            &self.inner.http
        }

        /// Sends any operation and decodes its answer.
        pub async fn execute<O: $crate::Operation + ?Sized>(
            &self,
            operation: &O,
        ) -> Result<O::Output, Error> {
            $crate::execute_async(&self.inner.http, &self.inner.target, operation).await
        }

        /// Waits between two reads of a polling method.
        async fn pause(&self, duration: ::std::time::Duration) {
            $sleep(duration).await
        }
    };
}

/// Runs a ceremony through the client's stack.
#[doc(hidden)]
#[macro_export]
macro_rules! __client_drive {
    (blocking, $($arg:expr),*) => {
        $crate::ceremony::drive($($arg),*)
    };
    (async, $($arg:expr),*) => {
        $crate::ceremony::drive_async($($arg),*).await
    };
}

/// Runs a ceremony through the client's stack, reporting its progress.
#[doc(hidden)]
#[macro_export]
macro_rules! __client_drive_reporting {
    (blocking, $($arg:expr),*) => {
        $crate::ceremony::drive_reporting($($arg),*)
    };
    (async, $($arg:expr),*) => {
        $crate::ceremony::drive_reporting_async($($arg),*).await
    };
}

/// Sends shares in turn through the client's stack.
#[doc(hidden)]
#[macro_export]
macro_rules! __client_send_shares {
    (blocking, $($arg:expr),*) => {
        $crate::transport::submit::send_shares($($arg),*)
    };
    (async, $($arg:expr),*) => {
        $crate::transport::submit::send_shares_async($($arg),*).await
    };
}

/// Every method the clients share, in the form `blocking` or `async`; expanded inside the
/// client's `impl` block.
///
/// The `forward` form makes the same methods, blocking, for a type that wraps clients (one
/// over both transports, a blocking face of the async one): each is
/// `forward_call!(self, name(args))`, or `forward_call!(self, name(args) -> Self)` and
/// `... -> Option<Self>` for the methods that return a client, with `forward_call!` and an
/// `Error` type defined where the list is expanded. A method added to the list is then
/// added to the wrapper too.
#[doc(hidden)]
#[macro_export]
macro_rules! client_methods {
    ($mode:ident) => {
        // Ceremonies.
        $crate::__client_fn! { $mode,
        /// Runs `ceremony` until it needs the caller again (more shares, an OTP) or is over, and
        /// returns what it needs ([`Next`](vault_key_core::ceremony::Next)); see [`vault_key_core::ceremony`]. The ceremony stays
        /// with the caller: what it produced (new shares, an encoded token, the OTP) remains
        /// reachable from it after any error, and driving it again resumes where it stopped.
        fn drive(&self, ceremony: &mut (impl $crate::ceremony::Ceremony + ?Sized)) -> $crate::ceremony::Next {
            $crate::__client_drive!($mode, self.stack(), self.target(), ceremony)
        }
        }

        $crate::__client_fn! { $mode,
        /// [`drive`](Self::drive), handing `report` how far the ceremony got
        /// ([`Progress`](vault_key_core::ceremony::Progress): shares counted of those
        /// required, verification, the end) after every answer, for a progress bar.
        fn drive_reporting(
            &self,
            ceremony: &mut (impl $crate::ceremony::Ceremony + ?Sized),
            report: impl FnMut($crate::ceremony::Progress) + Send,
        ) -> $crate::ceremony::Next {
            $crate::__client_drive_reporting!($mode, self.stack(), self.target(), ceremony, report)
        }
        }

        $crate::__client_fn! { $mode,
        /// Queues current shares on a rekey and drives it: starts (or resumes) it, submits the
        /// shares, and stops once the new shares are issued, verification waits for new shares,
        /// or more current shares are needed.
        fn drive_rekey(
            &self,
            rekey: &mut $crate::ceremony::RekeyCeremony,
            current_shares: impl IntoIterator<Item = $crate::KeyShare>,
        ) -> $crate::ceremony::Next {
            rekey.submit_shares(current_shares)?;
            $crate::__client_wait!($mode, self.drive(rekey))
        }
        }

        $crate::__client_fn! { $mode,
        /// Queues new shares for verification on a rekey and drives it until they are verified
        /// or more are needed.
        fn drive_rekey_verification(
            &self,
            rekey: &mut $crate::ceremony::RekeyCeremony,
            new_shares: impl IntoIterator<Item = $crate::KeyShare>,
        ) -> $crate::ceremony::Next {
            rekey.submit_verification_shares(new_shares)?;
            $crate::__client_wait!($mode, self.drive(rekey))
        }
        }

        $crate::__client_fn! { $mode,
        /// Queues shares on a root-token (or recovery-token) generation and drives it; once it
        /// is finished ([`RootTokenPhase::Done`](vault_key_core::ceremony::RootTokenPhase::Done)), [`RootTokenCeremony::decode_token`](vault_key_core::ceremony::RootTokenCeremony::decode_token) gives the
        /// token.
        fn drive_root_token(
            &self,
            generation: &mut $crate::ceremony::RootTokenCeremony,
            shares: impl IntoIterator<Item = $crate::KeyShare>,
        ) -> $crate::ceremony::Next {
            generation.submit_shares(shares)?;
            $crate::__client_wait!($mode, self.drive(generation))
        }
        }

        // Root-token generation.
        $crate::__client_fn! { $mode,
        /// `GET sys/generate-root/attempt`: the root-token generation in progress, if any.
        fn read_root_generation_progress(&self) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::ReadRootGenerationProgress::new()))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/generate-root/attempt`: starts a root-token generation. Without an OTP or PGP
        /// key the server generates the OTP and returns it in the answer, once.
        fn start_root_token_generation(
            &self,
            start: $crate::ops::generate_root::StartRootTokenGeneration,
        ) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&start))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/generate-root/update`: submits one unseal (or recovery) share.
        fn generate_root(
            &self,
            key: $crate::KeyShare,
            nonce: impl Into<String>,
        ) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::GenerateRoot::new(key, nonce)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `DELETE sys/generate-root/attempt`: cancels the root-token generation.
        fn cancel_root_generation(&self) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::CancelRootGeneration::new()))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/generate-recovery-token/attempt`: the recovery-token generation in progress.
        fn read_recovery_token_generation_progress(&self) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::ReadRootGenerationProgress::new().kind($crate::ops::generate_root::TokenKind::Recovery)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/generate-recovery-token/attempt`: starts a recovery-token generation (server in
        /// recovery mode).
        fn start_recovery_token_generation(
            &self,
            start: $crate::ops::generate_root::StartRootTokenGeneration,
        ) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&start.kind($crate::ops::generate_root::TokenKind::Recovery)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/generate-recovery-token/update`: submits one share.
        fn generate_recovery_token(
            &self,
            key: $crate::KeyShare,
            nonce: impl Into<String>,
        ) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::GenerateRoot::new(key, nonce).kind($crate::ops::generate_root::TokenKind::Recovery)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `DELETE sys/generate-recovery-token/attempt`: cancels the recovery-token generation.
        fn cancel_recovery_token_generation(&self) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::CancelRootGeneration::new().kind($crate::ops::generate_root::TokenKind::Recovery)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/replication/dr/secondary/generate-operation-token/attempt`: the DR operation
        /// token generation in progress (Vault Enterprise, on a DR secondary).
        fn read_dr_operation_token_generation_progress(
            &self,
        ) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::ReadRootGenerationProgress::new().kind($crate::ops::generate_root::TokenKind::DrOperation)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/replication/dr/secondary/generate-operation-token/attempt`: starts a DR
        /// operation token generation, from the primary's shares.
        fn start_dr_operation_token_generation(
            &self,
            start: $crate::ops::generate_root::StartRootTokenGeneration,
        ) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&start.kind($crate::ops::generate_root::TokenKind::DrOperation)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/replication/dr/secondary/generate-operation-token/update`: submits one share.
        fn generate_dr_operation_token(
            &self,
            key: $crate::KeyShare,
            nonce: impl Into<String>,
        ) -> $crate::ops::generate_root::RootGenerationStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::GenerateRoot::new(key, nonce).kind($crate::ops::generate_root::TokenKind::DrOperation)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `DELETE sys/replication/dr/secondary/generate-operation-token/attempt`: cancels it.
        fn cancel_dr_operation_token_generation(&self) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::generate_root::CancelRootGeneration::new().kind($crate::ops::generate_root::TokenKind::DrOperation)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/decode-token`: lets the server decode an encoded token with its OTP. A server
        /// that does not serve the path (Vault before 1.13.3, any server in recovery mode) gets
        /// the token decoded locally instead ([`otp::decode_token_any_scheme`](vault_key_core::otp::decode_token_any_scheme)).
        fn decode_token(&self, encoded_token: $crate::EncodedToken, otp: $crate::Otp) -> $crate::Token {
            match $crate::__client_wait!($mode, self.execute(&$crate::ops::decode::DecodeToken::new(encoded_token.clone(), otp.clone()))) {
                Err(e) if e.refusal().is_some_and($crate::Refusal::is_path_not_served) => {
                    Ok($crate::otp::decode_token_any_scheme(&encoded_token, &otp)?)
                }
                answer => answer,
            }
        }
        }

        // Cluster.
        $crate::__client_fn! { $mode,
        /// `GET sys/health`: what this node is (active, standby, sealed, ...). Every status
        /// code the endpoint uses is an answer, not an error.
        fn read_health_status(&self, query: $crate::ops::cluster::ReadHealthStatus) -> $crate::ops::cluster::Health {
            $crate::__client_wait!($mode, self.execute(&query))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/leader`: which node leads the cluster, as this node sees it.
        fn read_leader_status(&self) -> $crate::ops::cluster::LeaderStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::cluster::ReadLeaderStatus))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/ha-status`: every node of the cluster, the active one among them.
        fn read_ha_status(&self) -> $crate::ops::cluster::HaStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::cluster::ReadHaStatus))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/step-down`: the active node gives up leadership (needs sudo). A rekey or
        /// root-token generation in progress on it cannot complete any more.
        fn step_down(&self) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::cluster::StepDown))
        }
        }

        $crate::__client_fn! { $mode,
        /// A client for the cluster's leader, as this node names it (`sys/leader`): this client
        /// when the node leads, another with the same token, namespace and dialect at the
        /// leader's `api_addr` otherwise, `None` while no leader is known. A leader named at
        /// plain `http` by a node reached over `https` is refused
        /// ([`Target::at_named_leader`](vault_key_core::Target::at_named_leader)), and so is
        /// one at a host the client's redirect hosts do not allow
        /// ([`RedirectPolicy::check_named_leader`](vault_key_core::transport::redirect::RedirectPolicy::check_named_leader)).
        fn leader_client(&self) -> Option<Self> {
            let leader = $crate::__client_wait!($mode, self.read_leader_status())?;
            if leader.is_self {
                return Ok(Some(self.clone()));
            }
            let Some(address) = leader.leader_address else {
                return Ok(None);
            };
            let target = self.target().at_named_leader(&address)?;
            self.stack()
                .policy()
                .check_named_leader(self.target().address(), target.address())
                .map_err(|refused| $crate::ExecuteError::Transport(refused.into()))?;
            Ok(Some(self.with_target(target)))
        }
        }

        $crate::__client_fn! { $mode,
        /// Reads `sys/health` until the node is active, for at most `within` (every 100 ms,
        /// through connection failures while it restarts). The answer is the last health
        /// read: its `state` is [`NodeState::Active`](vault_key_core::ops::cluster::NodeState::Active)
        /// unless the time ran out; an error only when no health could be read at all.
        fn wait_until_active(&self, within: ::std::time::Duration) -> $crate::ops::cluster::Health {
            let deadline = ::std::time::Instant::now() + within;
            loop {
                let health = $crate::__client_wait!(
                    $mode,
                    self.read_health_status($crate::ops::cluster::ReadHealthStatus::new())
                );
                let done = match &health {
                    Ok(health) => health.state == $crate::ops::cluster::NodeState::Active,
                    Err(_) => false,
                };
                if done || ::std::time::Instant::now() >= deadline {
                    return health;
                }
                $crate::__client_wait!($mode, self.pause(::std::time::Duration::from_millis(100)));
            }
        }
        }

        $crate::__client_fn! { $mode,
        /// Unseals every node at `addresses` with the same `keys` (each node is sealed and
        /// unsealed on its own), with this client's token, namespace and dialect. One answer per
        /// node, in order: a node that fails does not stop the others.
        fn unseal_nodes(
            &self,
            addresses: &[&str],
            keys: &[$crate::KeyShare],
        ) -> Vec<::core::result::Result<$crate::ops::seal::SealStatus, Error>> {
            let mut answers = Vec::with_capacity(addresses.len());
            for address in addresses {
                let answer = match self.target().at_address(address) {
                    Ok(target) => {
                        let node = self.with_target(target);
                        $crate::__client_wait!($mode, node.unseal_multi(keys.to_vec()))
                    }
                    Err(e) => Err(e.into()),
                };
                answers.push(answer);
            }
            Ok(answers)
        }
        }

        // Encryption key.
        $crate::__client_fn! { $mode,
        /// `GET sys/key-status`: the active encryption key's term and install time.
        fn get_encryption_key_status(&self) -> $crate::ops::encryption_key::KeyStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::encryption_key::GetEncryptionKeyStatus))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/rotate`: installs a new encryption key (needs sudo).
        fn rotate_encryption_key(&self) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::encryption_key::RotateEncryptionKey))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/rotate/config`: the automatic-rotation settings.
        fn read_rotate_config(&self) -> $crate::ops::encryption_key::RotateConfig {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::encryption_key::ReadRotateConfig))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/rotate/config`: changes the automatic-rotation settings.
        fn configure_rotation(&self, settings: $crate::ops::encryption_key::ConfigureRotation) -> () {
            $crate::__client_wait!($mode, self.execute(&settings))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/rotate/root` (OpenBao): rotates the root key without key shares.
        fn rotate_root_key(&self) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::encryption_key::RotateRootKey))
        }
        }

        // Rekey.
        $crate::__client_fn! { $mode,
        /// `GET sys/rekey/init`: the rekey in progress, if any.
        fn read_rekey_progress(&self, kind: $crate::ops::rekey::KeyKind) -> $crate::ops::rekey::RekeyStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::rekey::ReadRekeyProgress::new().kind(kind)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/rekey/init`: starts a rekey.
        fn start_rekey(&self, start: $crate::ops::rekey::StartRekey) -> $crate::ops::rekey::RekeyStatus {
            $crate::__client_wait!($mode, self.execute(&start))
        }
        }

        $crate::__client_fn! { $mode,
        /// `DELETE sys/rekey/init`: cancels the rekey. Vault 1.20+ wants its nonce for a rekey
        /// started in the last ten minutes, so without one the progress is read first and the
        /// nonce in progress is sent (if the read fails, the cancel is sent without a nonce).
        fn cancel_rekey(&self, kind: $crate::ops::rekey::KeyKind, nonce: Option<&str>) -> () {
            let nonce = match nonce {
                Some(nonce) => Some(nonce.to_owned()),
                // The read only looks for a nonce: if it fails, the cancel still goes out
                // and the server's answer to it is the one that counts.
                None => $crate::__client_wait!($mode, self.read_rekey_progress(kind))
                    .ok()
                    .and_then(|status| status.nonce),
            };
            $crate::__client_wait!($mode, self.execute(
                &$crate::ops::rekey::CancelRekey::new()
                    .kind(kind)
                    .nonce(nonce.unwrap_or_default()),
            ))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/rekey/update`: submits one current share.
        fn rekey(
            &self,
            key: $crate::KeyShare,
            nonce: impl Into<String>,
            kind: $crate::ops::rekey::KeyKind,
        ) -> $crate::ops::rekey::RekeyUpdate {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::rekey::Rekey::new(key, nonce).kind(kind)))
        }
        }

        $crate::__client_fn! { $mode,
        /// Submits current shares in turn until the rekey completes; the answer is the new
        /// shares, or the progress after the last share.
        fn rekey_multi(
            &self,
            keys: impl IntoIterator<Item = $crate::KeyShare>,
            nonce: &str,
            kind: $crate::ops::rekey::KeyKind,
        ) -> $crate::ops::rekey::RekeyUpdate {
            let target = self.target();
            $crate::__client_send_shares!($mode, self.stack(), target, keys, |key| {
                $crate::ops::rekey::Rekey::new(key, nonce).kind(kind)
            })
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/rekey/backup`: the PGP-encrypted backup of the new shares.
        fn read_backup_keys(&self, kind: $crate::ops::rekey::KeyKind) -> $crate::ops::rekey_backup::BackupKeys {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::rekey_backup::ReadBackupKeys::new().kind(kind)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `DELETE sys/rekey/backup`: deletes the backup of the new shares.
        fn delete_backup_keys(&self, kind: $crate::ops::rekey::KeyKind) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::rekey_backup::DeleteBackupKeys::new().kind(kind)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/rekey/verify`: the verification of new shares in progress.
        fn read_rekey_verify_progress(&self, kind: $crate::ops::rekey::KeyKind) -> $crate::ops::rekey_verify::VerifyStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::rekey_verify::ReadRekeyVerifyProgress::new().kind(kind)))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/rekey/verify`: submits one new share for verification.
        fn rekey_verify(
            &self,
            key: $crate::KeyShare,
            nonce: impl Into<String>,
            kind: $crate::ops::rekey::KeyKind,
        ) -> $crate::ops::rekey_verify::VerifyUpdate {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::rekey_verify::RekeyVerify::new(key, nonce).kind(kind)))
        }
        }

        $crate::__client_fn! { $mode,
        /// Submits new shares in turn until verification completes.
        fn rekey_verify_multi(
            &self,
            keys: impl IntoIterator<Item = $crate::KeyShare>,
            nonce: &str,
            kind: $crate::ops::rekey::KeyKind,
        ) -> $crate::ops::rekey_verify::VerifyUpdate {
            let target = self.target();
            $crate::__client_send_shares!($mode, self.stack(), target, keys, |key| {
                $crate::ops::rekey_verify::RekeyVerify::new(key, nonce).kind(kind)
            })
        }
        }

        $crate::__client_fn! { $mode,
        /// `DELETE sys/rekey/verify`: restarts verification with a fresh nonce.
        fn cancel_rekey_verify(&self, kind: $crate::ops::rekey::KeyKind) -> $crate::ops::rekey_verify::VerifyStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::rekey_verify::CancelRekeyVerify::new().kind(kind)))
        }
        }

        // Setup and seal.
        $crate::__client_fn! { $mode,
        /// `GET sys/init`: whether the server is initialised.
        fn read_init_status(&self) -> bool {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::seal::ReadInitStatus))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/init`: initialises the server; the answer holds its first shares and root
        /// token, once.
        fn initialize(&self, init: $crate::ops::seal::Initialize) -> $crate::ops::seal::InitResult {
            $crate::__client_wait!($mode, self.execute(&init))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/seal-status`: sealed or not, unseal progress, version.
        fn read_seal_status(&self) -> $crate::ops::seal::SealStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::seal::ReadSealStatus))
        }
        }

        $crate::__client_fn! { $mode,
        /// Which server this is (Vault or OpenBao, version), from its seal status.
        fn detect_server(&self) -> $crate::ops::seal::ServerInfo {
            Ok($crate::__client_wait!($mode, self.read_seal_status())?.server())
        }
        }

        $crate::__client_fn! { $mode,
        /// The same client speaking the dialect the server serves by default
        /// ([`ServerInfo::dialect`](vault_key_core::ops::seal::ServerInfo::dialect)).
        fn with_detected_dialect(&self) -> Self {
            Ok(self.with_dialect($crate::__client_wait!($mode, self.detect_server())?.dialect()))
        }
        }

        $crate::__client_fn! { $mode,
        /// `GET sys/seal-backend-status`: the health of each seal backend (Vault 1.16+; OpenBao
        /// does not serve it).
        fn read_seal_backend_status(&self) -> $crate::ops::seal::SealBackendStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::seal::ReadSealBackendStatus))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/unseal`: submits one unseal share.
        fn unseal(&self, key: $crate::KeyShare) -> $crate::ops::seal::SealStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::seal::Unseal::new(key)))
        }
        }

        $crate::__client_fn! { $mode,
        /// Submits unseal shares in turn until the server is unsealed.
        fn unseal_multi(
            &self,
            keys: impl IntoIterator<Item = $crate::KeyShare>,
        ) -> $crate::ops::seal::SealStatus {
            $crate::__client_send_shares!($mode, self.stack(), self.target(), keys, $crate::ops::seal::Unseal::new)
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/unseal` with `reset`: discards the shares submitted so far.
        fn reset_unseal(&self) -> $crate::ops::seal::SealStatus {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::seal::Unseal::reset()))
        }
        }

        $crate::__client_fn! { $mode,
        /// `PUT sys/seal`: seals the server (needs sudo).
        fn seal(&self) -> () {
            $crate::__client_wait!($mode, self.execute(&$crate::ops::seal::Seal))
        }
        }
    };
}

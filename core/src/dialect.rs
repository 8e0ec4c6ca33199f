//! Which family of paths a server speaks: a ceremony is pinned to one, since the two
//! dialects' ceremonies are separate state on OpenBao.

/// Which family of paths the server speaks for key ceremonies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// HashiCorp Vault's classic paths (`sys/generate-root/*`, `sys/rekey/*`, `sys/rotate`),
    /// also served by OpenBao when its listener enables them.
    #[default]
    Vault,
    /// OpenBao 2.x authenticated paths (`sys/generate-root-token/*`, `sys/rotate/root/*`,
    /// `sys/rotate/recovery/*`, `sys/rotate/keyring`).
    OpenBao,
}

//! The ME key pairs of a lab, generated while the lab is built.
//!
//! Each ME presents a self-signed certificate for an RSA 2048 key pair. Generating one
//! takes tens of milliseconds of CPU, so a fleet of a thousand PCs would spend most of
//! its run generating keys. A client of its own gets its own key pair, generated ahead
//! so that it is ready when the ME needs it. The PCs of a fleet share a pool of
//! [`FLEET_KEY_POOL`] key pairs, an emulation shortcut the report names. Each PC still
//! signs its own certificate for its own UUID, but several PCs present the same public
//! key, where real MEs would each have their own.

use std::collections::HashMap;
use std::sync::Arc;

use futures::FutureExt;

use crate::me::{MeKey, ReadyKey};
use crate::topology::Lab;

/// Key pairs shared by the PCs of one fleet; PC `N` takes key `(N - 1) % FLEET_KEY_POOL`.
pub const FLEET_KEY_POOL: usize = 16;

/// Every client's key pair, by client name, and the size of each fleet's shared pool.
pub struct MeKeys {
    by_client: HashMap<String, ReadyKey>,
    /// Fleet name and the number of key pairs its PCs share.
    pub shared_pools: HashMap<String, usize>,
}

impl MeKeys {
    /// Starts generating every key pair of `lab` on the blocking pool.
    pub fn generate(lab: &Lab) -> Self {
        let mut by_client = HashMap::new();
        let mut pools: HashMap<&str, Vec<ReadyKey>> = HashMap::new();

        for client in &lab.clients {
            let key = match &client.fleet {
                None => generate_one(),
                Some(fleet) => pool_key(pools.entry(fleet).or_default()),
            };
            by_client.insert(client.name.clone(), key);
        }

        let shared_pools = pools.into_iter().map(|(fleet, keys)| (fleet.to_owned(), keys.len())).collect();
        Self { by_client, shared_pools }
    }

    /// Returns the key pair of a client, or lets its ME generate one when the lab made none.
    pub fn for_client(&self, name: &str) -> MeKey {
        self.by_client.get(name).cloned().map_or(MeKey::Generate, MeKey::Ready)
    }
}

/// Takes the next key of a fleet's pool, generating it while the pool is not full yet.
fn pool_key(pool: &mut Vec<ReadyKey>) -> ReadyKey {
    if pool.len() < FLEET_KEY_POOL {
        pool.push(generate_one());
        return pool[pool.len() - 1].clone();
    }
    // Round robin: the key at the front goes to this PC and moves to the back.
    let next = pool.remove(0);
    pool.push(next.clone());
    next
}

fn generate_one() -> ReadyKey {
    let task = tokio::task::spawn_blocking(crate::pki::me_key);
    async move {
        match task.await {
            Ok(Ok(key)) => Ok(Arc::new(key)),
            Ok(Err(error)) => Err(error.to_string()),
            Err(error) => Err(format!("the key generation task failed: {error}")),
        }
    }
    .boxed()
    .shared()
}

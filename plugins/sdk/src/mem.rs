//! [`MemHost`]: the host in memory, for native unit tests of plugin logic.
//!
//! It keeps the host's rules that logic depends on — TTLs against a clock
//! the test moves, groups in join order, claims that belong to one live
//! session, a session's attributes and groups gone when it is dropped — so a
//! test of the logic fails where the real host would behave differently.
//! Passwords are scrambled, not hashed: never use it outside tests.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Error, Host, Level, SessionId, SessionInfo};

#[derive(Default)]
pub struct MemHost {
    now: Cell<u64>,
    kv: RefCell<BTreeMap<String, (String, Option<u64>)>>,
    blobs: RefCell<BTreeMap<String, Vec<u8>>>,
    config: RefCell<BTreeMap<String, String>>,
    logs: RefCell<Vec<(Level, String)>>,
    /// The context of each logged line, in step with `logs`.
    contexts: RefCell<Vec<String>>,
    attrs: RefCell<HashMap<(SessionId, String), String>>,
    groups: RefCell<BTreeMap<String, Vec<SessionId>>>,
    claims: RefCell<HashMap<String, SessionId>>,
    closed: RefCell<BTreeSet<SessionId>>,
    /// Sessions whose connection ended ([`MemHost::drop_session`]): gone
    /// for `info`, as in the host. Every other id counts as live.
    dropped: RefCell<BTreeSet<SessionId>>,
    /// When set, every kv and blob call fails as a broken disk would
    /// (`Error::Unavailable`).
    storage_fails: Cell<bool>,
}

/// The host's limits (`host/src/state/kv.rs`, the password hasher), so a
/// test meets `Error::TooLarge` where the host would answer it.
const MAX_KEY_BYTES: usize = 1024;
const MAX_VALUE_BYTES: usize = 1 << 20;
const MAX_BLOB_BYTES: usize = 32 << 20;
const MAX_PASSWORD_BYTES: usize = 1024;

fn at_most(len: usize, limit: usize) -> Result<(), Error> {
    if len > limit {
        Err(Error::TooLarge(limit as u64))
    } else {
        Ok(())
    }
}

/// Not a real hash, but never the password in clear.
fn scramble(password: &str) -> String {
    let hex: String = password
        .bytes()
        .map(|b| format!("{:02x}", b ^ 0x5a))
        .collect();
    format!("$mem${hex}")
}

impl MemHost {
    /// A host whose clock reads `now_ms`.
    pub fn at(now_ms: u64) -> Self {
        let h = MemHost::default();
        h.now.set(now_ms);
        h
    }

    pub fn set_now(&self, now_ms: u64) {
        self.now.set(now_ms);
    }

    pub fn advance(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
    }

    /// Sets a value of the plugin's configuration.
    pub fn set_config(&self, key: &str, value: &str) {
        self.config
            .borrow_mut()
            .insert(key.to_string(), value.to_string());
    }

    /// Makes every kv and blob call fail (true) or work again (false).
    pub fn fail_storage(&self, fail: bool) {
        self.storage_fails.set(fail);
    }

    fn storage(&self) -> Result<(), Error> {
        if self.storage_fails.get() {
            Err(Error::Unavailable(
                "storage failure (injected by the test)".to_string(),
            ))
        } else {
            Ok(())
        }
    }

    /// Messages logged at `level` or above.
    pub fn logged(&self, level: Level) -> Vec<String> {
        self.logs
            .borrow()
            .iter()
            .filter(|(l, _)| *l >= level)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Every message logged so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.borrow().clone()
    }

    /// The context of every message logged so far, in order.
    pub fn log_contexts(&self) -> Vec<String> {
        self.contexts.borrow().clone()
    }

    /// Sessions the logic asked to close.
    pub fn closed(&self) -> BTreeSet<SessionId> {
        self.closed.borrow().clone()
    }

    /// Every live claim: name → the session holding it.
    pub fn claims(&self) -> HashMap<String, SessionId> {
        self.claims.borrow().clone()
    }

    /// Every key with its value and expiry, expired ones included.
    pub fn raw_kv(&self) -> BTreeMap<String, (String, Option<u64>)> {
        self.kv.borrow().clone()
    }

    /// What the host does when a connection ends: the session leaves every
    /// group, loses its attributes and its claims.
    pub fn drop_session(&self, session: SessionId) {
        for members in self.groups.borrow_mut().values_mut() {
            members.retain(|s| *s != session);
        }
        self.attrs.borrow_mut().retain(|(s, _), _| *s != session);
        self.claims.borrow_mut().retain(|_, s| *s != session);
        self.dropped.borrow_mut().insert(session);
    }

    fn live(&self, exp: Option<u64>) -> bool {
        exp.is_none_or(|e| self.now.get() < e)
    }

    fn session_info(&self, id: SessionId) -> SessionInfo {
        let mut attrs: Vec<(String, String)> = self
            .attrs
            .borrow()
            .iter()
            .filter(|((s, _), _)| *s == id)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        attrs.sort();
        SessionInfo {
            id,
            listener: "mem".to_string(),
            peer: format!("127.0.0.1:{}", 10_000 + id % 50_000),
            attrs,
        }
    }
}

impl Host for MemHost {
    fn kv_get(&self, key: &str) -> Result<Option<String>, Error> {
        self.storage()?;
        Ok(self
            .kv
            .borrow()
            .get(key)
            .filter(|(_, exp)| self.live(*exp))
            .map(|(v, _)| v.clone()))
    }
    fn kv_set(&self, key: &str, value: &str, ttl_ms: Option<u64>) -> Result<(), Error> {
        at_most(key.len(), MAX_KEY_BYTES)?;
        at_most(value.len(), MAX_VALUE_BYTES)?;
        self.storage()?;
        let exp = ttl_ms.map(|t| self.now.get().saturating_add(t));
        self.kv
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), exp));
        Ok(())
    }
    fn kv_delete(&self, key: &str) -> Result<bool, Error> {
        self.storage()?;
        let removed = self.kv.borrow_mut().remove(key);
        Ok(removed.is_some_and(|(_, exp)| self.live(exp)))
    }
    fn kv_list(&self, prefix: &str, limit: u32) -> Result<Vec<(String, String)>, Error> {
        self.storage()?;
        Ok(self
            .kv
            .borrow()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, (_, exp))| self.live(*exp))
            .take(limit as usize)
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect())
    }

    fn blob_get(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        self.storage()?;
        Ok(self.blobs.borrow().get(name).cloned())
    }
    fn blob_set(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        at_most(name.len(), MAX_KEY_BYTES)?;
        at_most(data.len(), MAX_BLOB_BYTES)?;
        self.storage()?;
        self.blobs
            .borrow_mut()
            .insert(name.to_string(), data.to_vec());
        Ok(())
    }
    fn blob_delete(&self, name: &str) -> Result<bool, Error> {
        self.storage()?;
        Ok(self.blobs.borrow_mut().remove(name).is_some())
    }

    fn password_hash(&self, password: &str) -> Result<String, Error> {
        at_most(password.len(), MAX_PASSWORD_BYTES)?;
        Ok(scramble(password))
    }
    fn password_verify(&self, password: &str, phc: &str) -> bool {
        scramble(password) == phc
    }

    fn now_ms(&self) -> u64 {
        self.now.get()
    }
    fn log(&self, level: Level, context: &str, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
        self.contexts.borrow_mut().push(context.to_string());
    }
    fn config_get(&self, key: &str) -> Option<String> {
        self.config.borrow().get(key).cloned()
    }
    fn config_all(&self) -> Vec<(String, String)> {
        self.config
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn info(&self, session: SessionId) -> Option<SessionInfo> {
        (!self.dropped.borrow().contains(&session)).then(|| self.session_info(session))
    }
    fn get_attr(&self, session: SessionId, key: &str) -> Option<String> {
        self.attrs
            .borrow()
            .get(&(session, key.to_string()))
            .cloned()
    }
    fn set_attr(&self, session: SessionId, key: &str, value: Option<&str>) {
        let k = (session, key.to_string());
        match value {
            Some(v) => self.attrs.borrow_mut().insert(k, v.to_string()),
            None => self.attrs.borrow_mut().remove(&k),
        };
    }
    fn join(&self, session: SessionId, group: &str) {
        let mut groups = self.groups.borrow_mut();
        let members = groups.entry(group.to_string()).or_default();
        if !members.contains(&session) {
            members.push(session);
        }
    }
    fn leave(&self, session: SessionId, group: &str) {
        if let Some(members) = self.groups.borrow_mut().get_mut(group) {
            members.retain(|s| *s != session);
        }
    }
    fn members(&self, group: &str) -> Vec<SessionInfo> {
        let ids = self.groups.borrow().get(group).cloned().unwrap_or_default();
        ids.into_iter().map(|id| self.session_info(id)).collect()
    }
    fn claim(&self, session: SessionId, name: &str) -> bool {
        *self
            .claims
            .borrow_mut()
            .entry(name.to_string())
            .or_insert(session)
            == session
    }
    fn release(&self, session: SessionId, name: &str) {
        let mut claims = self.claims.borrow_mut();
        if claims.get(name) == Some(&session) {
            claims.remove(name);
        }
    }
    fn close(&self, session: SessionId) {
        self.closed.borrow_mut().insert(session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_follows_the_clock() {
        let h = MemHost::at(1_000);
        h.kv_set("a", "1", Some(500)).unwrap();
        h.kv_set("b", "2", None).unwrap();
        assert_eq!(h.kv_get("a").unwrap().as_deref(), Some("1"));
        h.advance(500);
        assert_eq!(h.kv_get("a").unwrap(), None);
        assert!(!h.kv_delete("a").unwrap(), "an expired key is not live");
        assert_eq!(h.kv_list("", 10).unwrap(), vec![("b".into(), "2".into())]);
    }

    #[test]
    fn list_is_by_prefix_in_key_order_and_bounded() {
        let h = MemHost::at(0);
        for k in ["p/3", "p/1", "q/1", "p/2"] {
            h.kv_set(k, k, None).unwrap();
        }
        let keys: Vec<String> = h
            .kv_list("p/", 2)
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(keys, ["p/1", "p/2"]);
    }

    #[test]
    fn claims_belong_to_one_session_until_it_ends() {
        let h = MemHost::at(0);
        assert!(h.claim(1, "ann"));
        assert!(h.claim(1, "ann"));
        assert!(!h.claim(2, "ann"));
        h.join(1, "g");
        h.join(2, "g");
        h.set_attr(1, "name", Some("ann"));
        assert_eq!(h.members("g")[0].attr("name"), Some("ann"));
        h.drop_session(1);
        assert_eq!(h.info(1), None);
        assert!(h.info(2).is_some());
        assert!(h.claim(2, "ann"));
        assert_eq!(h.members("g").iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
        assert_eq!(h.get_attr(1, "name"), None);
    }

    #[test]
    fn limits_and_failures_are_typed() {
        let h = MemHost::at(0);
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(h.kv_set(&long, "v", None), Err(Error::TooLarge(1024)));
        assert_eq!(
            h.kv_set("k", &"v".repeat(MAX_VALUE_BYTES + 1), None),
            Err(Error::TooLarge(1 << 20))
        );
        assert_eq!(h.password_hash(&long), Err(Error::TooLarge(1024)));
        h.fail_storage(true);
        let e = h.kv_get("k").unwrap_err();
        assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "unavailable: storage failure (injected by the test)"
        );
        h.fail_storage(false);
        assert_eq!(h.kv_get("k"), Ok(None));
    }

    #[test]
    fn passwords_verify_without_being_kept_in_clear() {
        let h = MemHost::at(0);
        let phc = h.password_hash("s3cret").unwrap();
        assert!(!phc.contains("s3cret"));
        assert!(h.password_verify("s3cret", &phc));
        assert!(!h.password_verify("other", &phc));
    }
}

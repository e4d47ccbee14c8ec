//! Where elements of migratable collections are: the location service.
//!
//! * Every element has a **home PE**, its placement's PE; the home always
//!   knows where the element is (each arrival elsewhere tells it).
//! * Every PE keeps a **location cache** ([`LocationTable`]): where it last
//!   heard an element is. A PE an element left points at where it went.
//!   Entries carry the element's migration count (`version`), and a newer
//!   entry is never replaced by an older one, so following the pointers
//!   always leads forward in time, to the element.
//! * A message for an element that is not here is **forwarded**: to the
//!   cached PE, else to the home; it waits here when this PE is the home and
//!   the element is on its way here (or its collection is not created yet).
//!   When a forwarded message is delivered, its sending PE is told the
//!   element's PE (the cache is filled lazily).
//!
//! Forwarding can change the order in which messages arrive; ordered
//! messages ([`super::order`]) restore each sender's order at the receiver.

use super::order::Ordered;
use crate::collection::CollInfo;
use crate::index::Index;
use crate::machine::wire::Wire;
use crate::message::{Addr, Msg};
use crate::route::Outgoing;
use crate::scheduler::Pe;
use rustc_hash::FxHashMap;
use std::cell::RefCell;

/// An element's PE as known at its `version`-th migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Where {
    pub pe: u32,
    pub version: u32,
}

/// One PE's knowledge of where elements that are not here live.
#[derive(Default)]
pub(crate) struct LocationTable {
    known: RefCell<FxHashMap<Addr, Where>>,
    /// Ordered messages for elements expected here (on their way, or of a
    /// collection not yet created here).
    waiting: RefCell<FxHashMap<Addr, Vec<Box<Ordered>>>>,
    /// Whether any element ever left or reached this PE or was heard of:
    /// until then every element is at its home and lookups are skipped.
    pub(crate) used: std::cell::Cell<bool>,
}

impl LocationTable {
    /// Records `w` for `addr` unless a newer location is known.
    pub(crate) fn learn(&self, addr: Addr, w: Where) {
        self.used.set(true);
        let mut k = self.known.borrow_mut();
        match k.get(&addr) {
            Some(old) if old.version >= w.version => {}
            _ => {
                k.insert(addr, w);
            }
        }
    }

    /// The element arrived here: forget where it was.
    pub(crate) fn arrived(&self, addr: &Addr) {
        self.used.set(true);
        self.known.borrow_mut().remove(addr);
    }

    pub(crate) fn get(&self, addr: &Addr) -> Option<Where> {
        if !self.used.get() {
            return None;
        }
        self.known.borrow().get(addr).copied()
    }

    /// Messages that waited for `addr` (to be handled again).
    pub(crate) fn take_waiting(&self, addr: &Addr) -> Vec<Box<Ordered>> {
        self.waiting.borrow_mut().remove(addr).unwrap_or_default()
    }

    /// Elements of collection `coll` that messages wait for.
    pub(crate) fn waiting_for(&self, coll: u32) -> Vec<Addr> {
        self.waiting.borrow().keys().filter(|a| a.coll == coll).copied().collect()
    }

    pub(crate) fn clear(&self) {
        self.known.borrow_mut().clear();
        self.waiting.borrow_mut().clear();
    }
}

/// Tells a PE where an element is.
pub(crate) struct Located {
    pub addr: Addr,
    pub at: Where,
}

impl Outgoing for Located {
    fn into_msg(self) -> Msg {
        let Located { addr, at } = self;
        Msg::Control(Box::new(move |pe: &Pe| pe.learn_location(addr, at)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::Located { addr: self.addr, at: self.at })
    }
}

impl Pe {
    /// The PE to send a message for element `ix` of `info` to: where this PE
    /// last heard it is, else its home.
    #[inline]
    pub(crate) fn locate_elem(&self, info: &CollInfo, ix: &Index) -> usize {
        if info.migratable && self.locations.used.get() {
            let addr = info.addr_of(ix);
            // An element that moved here is here, whatever its home says.
            if self.chares.holds(&addr) {
                return self.id;
            }
            if let Some(w) = self.locations.get(&addr) {
                return w.pe as usize;
            }
        }
        info.pe_of(ix)
    }

    /// A location report arrived.
    pub(crate) fn learn_location(&self, addr: Addr, at: Where) {
        if at.pe as usize == self.id {
            // Stale: the element was here; it is here or already gone again
            // (then this PE's own pointer is newer).
            return;
        }
        self.locations.learn(addr, at);
    }

    /// An ordered message for an element that is not on this PE.
    pub(crate) fn forward(&self, mut o: Box<Ordered>) {
        let addr = o.head.to;
        let Some(info) = self.coll_info(addr.coll) else {
            // A collection this process has not heard of yet: its creation
            // message is on its way.
            self.locations.waiting.borrow_mut().entry(addr).or_default().push(o);
            return;
        };
        let created = self.chares.created(addr.coll);
        let home = info.pe_of(&info.index_of(&addr));
        if !info.migratable {
            if created {
                let name = self.describe(&addr);
                return self.fail_usage(format!("message to {name}, which does not exist on this PE"));
            }
            self.locations.waiting.borrow_mut().entry(addr).or_default().push(o);
            return;
        }
        let to = match self.locations.get(&addr) {
            Some(w) if w.pe as usize != self.id => w.pe as usize,
            _ if home != self.id => home,
            _ => {
                self.locations.waiting.borrow_mut().entry(addr).or_default().push(o);
                return;
            }
        };
        if o.head.hops == u16::MAX {
            return self.fail_usage(format!("a message to {} was forwarded {} times", self.describe(&addr), u16::MAX));
        }
        o.head.hops += 1;
        self.post(to, o);
    }

    /// The collection `coll`'s description in this process, if known.
    pub(crate) fn coll_info(&self, coll: u32) -> Option<std::sync::Arc<CollInfo>> {
        if coll == 0 {
            return Some(self.shared.main_info.clone());
        }
        self.shared.colls.lock().unwrap().get(&coll).cloned()
    }
}

//! How jobs fail: deadlock reports, panics naming PE/chare/index/entry, abort.
//! (Exit codes: `collections`; usage errors: `futures`.)

use super::{Expect, Scenario};
use chare::prelude::*;

pub struct Stuck;

/// A value whose `Serialize` refuses (as a type with an invariant might).
#[derive(Clone)]
pub struct Refusing;

impl serde::Serialize for Refusing {
    fn serialize<S: serde::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("a Refusing value refuses to travel"))
    }
}

impl<'de> serde::Deserialize<'de> for Refusing {
    fn deserialize<D: serde::Deserializer<'de>>(_d: D) -> Result<Self, D::Error> {
        Ok(Refusing)
    }
}

#[chare]
impl Stuck {
    fn new() -> Self {
        Stuck
    }
    /// Waits on a channel nobody ever sends on.
    #[entry]
    async fn wait(&self, ctx: &Ctx<Self>) {
        let peer = ctx.proxy().elem(1 - ctx.index().i());
        let ch: Channel<u8> = ctx.channel_to(&peer);
        ch.recv().await;
    }
    #[entry]
    fn boom(&self, ctx: &Ctx<Self>, x: u32) {
        if ctx.index().i() == 1 {
            panic!("bad value {x}");
        }
    }
    #[entry]
    async fn boom_later(&self, ctx: &Ctx<Self>) {
        let f = ctx.future::<u32>();
        f.set(5);
        let v = f.await;
        panic!("async failure after {v}");
    }
    #[entry]
    fn accept(&self, _v: Refusing) {}
    #[entry]
    fn give_up(&self, ctx: &Ctx<Self>) {
        ctx.abort("cannot continue");
    }
    /// Keeps its PE busy for two minutes (longer than any harness waits).
    #[entry]
    fn spin(&self) {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_secs(120) {
            std::hint::spin_loop();
        }
    }
    /// Panics once the other PE is surely busy.
    #[entry]
    fn boom_soon(&self) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        panic!("failed while PE 0 was busy");
    }
}

/// Every PE idle, no message in flight, three tasks waiting: the job ends
/// with a deadlock report naming each task and what it waits on.
pub fn deadlock_is_reported_with_what_each_task_waits_on() -> Scenario {
    Scenario::new(
        &[1, 2, 4, 8],
        Expect::Deadlock(&[
            "3 task(s) still wait",
            "main[0].main waits on future",
            "Stuck[0].wait waits on channel recv",
            "Stuck[1].wait waits on channel recv",
        ]),
        |rt| {
            Box::pin(async move {
                let s = rt.array::<Stuck>(2).create(());
                s.wait();
                let never = rt.future::<()>();
                never.await;
            })
        },
    )
}

/// A panic in a broadcast entry method on element 1 (PE 1 by round-robin
/// placement) ends the job naming PE, chare, index, entry and message.
pub fn panic_in_an_entry_method_names_pe_chare_index_and_entry() -> Scenario {
    Scenario::new(
        &[2, 3, 4, 8],
        Expect::Panic { pe: Some(1), chare: "Stuck", index: "1", entry: "boom", message: "bad value 7" },
        |rt| {
            Box::pin(async move {
                let s = rt.array::<Stuck>(4).map(Placement::RoundRobin).create(());
                s.boom(7);
                std::future::pending::<()>().await;
            })
        },
    )
}

/// PE 1 panics while PE 0 (the caller's thread, which runs the main task)
/// is busy in an entry method for two minutes: the job still ends (the
/// harness gives it far less), with the one-line report and status 1.
/// Programs only: in the test process the busy thread would run on.
pub fn a_panic_ends_the_job_while_another_pe_is_busy() -> Scenario {
    Scenario::new(
        &[2, 4],
        Expect::Panic {
            pe: Some(1),
            chare: "Stuck",
            index: "1",
            entry: "boom_soon",
            message: "failed while PE 0 was busy",
        },
        |rt| {
            Box::pin(async move {
                let s = rt.array::<Stuck>(2).map(Placement::RoundRobin).create(());
                s.elem(1).boom_soon();
                s.elem(0).spin();
                std::future::pending::<()>().await;
            })
        },
    )
    .programs_only()
}

/// A misuse of the API (an array of size 0) is reported at the user's line,
/// not inside the runtime (`check_outcome` wants the location in the
/// scenarios).
pub fn a_misuse_is_reported_at_the_users_line() -> Scenario {
    Scenario::new(
        &[1, 2],
        Expect::Panic {
            pe: Some(0),
            chare: "main",
            index: "0",
            entry: "main",
            message: "array dimensions must be positive, got [0]",
        },
        |rt| {
            Box::pin(async move {
                let _s = rt.array::<Stuck>(0).create(());
            })
        },
    )
}

/// A value whose `Serialize` fails, sent to another process (or through the
/// local check mode): the job ends with one line naming the entry and the
/// type's own error text.
pub fn a_value_that_cannot_be_serialised_is_reported_with_its_text() -> Scenario {
    Scenario::new(&[2, 4], Expect::Usage("entry Stuck.accept: cannot serialise"), |rt| {
        Box::pin(async move {
            let s = rt.array::<Stuck>(2).map(Placement::RoundRobin).create(());
            s.elem(1).accept(Refusing);
            std::future::pending::<()>().await;
        })
    })
    .across_processes()
}

/// A panic after an await in an async entry method is reported the same way.
pub fn panic_in_an_async_entry_method_is_reported_too() -> Scenario {
    Scenario::new(
        &[1, 2, 4, 8],
        Expect::Panic {
            pe: Some(0),
            chare: "Stuck",
            index: "0",
            entry: "boom_later",
            message: "async failure after 5",
        },
        |rt| {
            Box::pin(async move {
                let s = rt.array::<Stuck>(2).create(());
                s.elem(0).boom_later();
                std::future::pending::<()>().await;
            })
        },
    )
}

/// `abort(message)` on PE 1 ends the job with the message and the PE.
pub fn abort_ends_the_job_with_its_message() -> Scenario {
    Scenario::new(&[2, 3, 4, 8], Expect::Abort("PE 1: abort: cannot continue"), |rt| {
        Box::pin(async move {
            let s = rt.array::<Stuck>(2).map(Placement::RoundRobin).create(());
            s.elem(1).give_up();
            std::future::pending::<()>().await;
        })
    })
}

/// A job that deadlocks with `when` calls held lists them in the report:
/// PE, chare, index, entry and how many calls wait, beside the tasks.
pub fn a_deadlock_report_lists_the_held_when_calls() -> Scenario {
    Scenario::new(
        &[1, 2, 4],
        Expect::Deadlock(&[
            "1 task(s) still wait and 2 chare entr(ies) hold calls whose `when` condition is false",
            "main[0].main waits on future",
            "Stepper[0].at: 3 call(s) held, their `when` condition false",
            "Stepper[0].ordered: 1 call(s) held, their `when` condition false",
        ]),
        |rt| {
            Box::pin(async move {
                let s = rt.chare::<super::reentrant::Stepper>(rt.num_pes() - 1).create(());
                for step in [3, 4, 5] {
                    s.at(step, "never".into());
                }
                s.ordered(7);
                s.at(0, "runs".into());
                assert_eq!(s.log_ret().await, vec!["runs@0"]);
                rt.future::<()>().await;
            })
        },
    )
}

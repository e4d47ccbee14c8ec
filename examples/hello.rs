//! # hello: groups, arrays, gather reductions and broadcast futures
//!
//! The first Chare program. It shows the two kinds of chare collections and
//! the two usual ways the main task learns that elements have done something:
//!
//! * a **group** has one element per PE (element `i` lives on PE `i`);
//! * an **array** has any number of elements with 1- to 6-d indices, here a
//!   3x4 grid spread over the PEs by the runtime;
//! * `ctx.contribute(value, Gather, future)` is a **reduction**: every element
//!   contributes one value and the future receives all of them in a `Vec`,
//!   **ordered by element index** whatever the PE count or arrival order;
//! * `collection.m_ret(args)` **broadcasts** entry method `m` to every element
//!   and returns a future that completes once every element has run it.
//!
//! Output does not depend on the number of PEs, so elements never print
//! anything themselves (their lines would interleave in a different order on
//! every run): they send their greetings to the main task, which prints them.
//!
//! Run: `cargo run -p chare-examples --release --bin hello -- --pes 4`

use chare::prelude::*;

/// A group: one `Hello` per PE.
struct Hello;

#[chare]
impl Hello {
    fn new() -> Self {
        Hello
    }

    /// Contributes this element's greeting to a gather reduction whose
    /// result (every greeting, in index order) goes to `done`.
    #[entry]
    fn greet(&self, ctx: &Ctx<Self>, done: Future<Vec<String>>) {
        let greeting = format!("hello from group element {}", ctx.index());
        ctx.contribute(greeting, Gather, done);
    }
}

/// A 2-D array element.
struct Greeter {
    /// The word the last `listen` broadcast brought.
    heard: String,
}

#[chare]
impl Greeter {
    fn new() -> Self {
        Greeter { heard: String::new() }
    }

    /// Stores `word`. Called by broadcast: every element runs it once.
    #[entry]
    fn listen(&mut self, word: String) {
        self.heard = word;
    }

    /// Contributes a greeting naming this element's 2-D index `(row, col)`.
    #[entry]
    fn greet(&self, ctx: &Ctx<Self>, done: Future<Vec<String>>) {
        let (row, col) = (ctx.index().get(0), ctx.index().get(1));
        let greeting = format!("hello from array element ({row}, {col}), which heard {:?}", self.heard);
        ctx.contribute(greeting, Gather, done);
    }
}

fn main() {
    chare::run(|rt| async move {
        // --- A group: one element per PE. ---
        let group = rt.group::<Hello>().create(());
        let done = rt.future();
        group.greet(done.clone()); // broadcast; returns at once
        let greetings: Vec<String> = done.await;
        // The group has as many elements as there are PEs; to keep the output
        // the same for any PE count, check every greeting and print the first.
        for (i, g) in greetings.iter().enumerate() {
            assert_eq!(*g, format!("hello from group element {i}"), "gather is in index order");
        }
        println!("group: {}", greetings[0]);
        println!("group: one greeting per PE, in index order");

        // --- A 3x4 array. ---
        let grid = rt.array::<Greeter>((3, 4)).create(());
        // A broadcast with a completion future: awaiting it means every
        // element has run `listen`.
        grid.listen_ret("hi".to_string()).await;
        println!("array: the broadcast reached all {} elements", grid.len());

        // A gather reduction over the 2-D array: row-major index order.
        let done = rt.future();
        grid.greet(done.clone());
        for line in done.await {
            println!("array: {line}");
        }
    });
}

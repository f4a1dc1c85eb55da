//! Names given at run time, kept once per distinct name for the life of the process.
//!
//! A breaker's name is a `&'static str` everywhere (events, stats, errors built in `const` code),
//! so a name read from a file must live for the rest of the process. Each distinct name is
//! copied once into a process-wide, append-only list and every later request for the same
//! name gets that copy: memory grows with the number of distinct names, never with the number
//! of configurations built (a reloaded file reuses the names it had).
//!
//! The list is a chain of set-once boxes ([`once_cell::race::OnceBox`]), so interning takes no
//! lock, needs no `std` and no `unsafe` of ours, and works the same with `alloc` alone. Looking a
//! name up walks the chain: linear in the number of distinct names, which is fine for what it
//! serves (building configurations, not calls). Two threads adding different names at the same
//! end race on one compare-and-swap; the loser drops its node and walks on, so nothing is
//! leaked twice.

use alloc::boxed::Box;

use once_cell::race::OnceBox;

struct Node {
    name: Box<str>,
    next: OnceBox<Node>,
}

/// The first node; never freed (a `static`), so every node reached from it is `'static` too.
static HEAD: OnceBox<Node> = OnceBox::new();

/// The process's one copy of `name`.
pub(crate) fn intern(name: &str) -> &'static str {
    let mut slot: &'static OnceBox<Node> = &HEAD;
    loop {
        let node = slot.get_or_init(|| {
            Box::new(Node {
                name: name.into(),
                next: OnceBox::new(),
            })
        });
        if &*node.name == name {
            return &node.name;
        }
        slot = &node.next;
    }
}

/// How many interned names start with `prefix` (for the tests: memory is bounded by this).
#[cfg(test)]
pub(crate) fn interned(prefix: &str) -> usize {
    let mut n = 0;
    let mut slot = &HEAD;
    while let Some(node) = slot.get() {
        n += node.name.starts_with(prefix) as usize;
        slot = &node.next;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::String;

    #[test]
    fn the_same_name_is_kept_once() {
        let a = intern(&String::from("intern-test-a"));
        let b = intern(&String::from("intern-test-a"));
        assert!(core::ptr::eq(a, b));
        assert_eq!(a, "intern-test-a");
        assert_eq!(interned("intern-test-"), 1);
        // Many reloads of the same few names keep one copy of each.
        for _ in 0..1_000 {
            for k in 0..5 {
                intern(&format!("intern-test-{k}"));
            }
        }
        assert_eq!(interned("intern-test-"), 5 + 1);
        for k in 0..5 {
            let name = format!("intern-test-{k}");
            assert!(core::ptr::eq(intern(&name), intern(&name)));
        }
    }

    #[test]
    fn racing_threads_get_one_copy() {
        let names: std::vec::Vec<&'static str> = std::thread::scope(|s| {
            let hs: std::vec::Vec<_> = (0..4)
                .map(|_| s.spawn(|| intern(&String::from("intern-race"))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(names.iter().all(|n| core::ptr::eq(*n, names[0])));
    }
}

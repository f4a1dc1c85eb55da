#![doc = include_str!("../README.md")]

mod duration;
mod expand;
mod options;

use proc_macro::TokenStream;

use expand::Flavor;

fn circuit(flavor: Flavor, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut options = options::Options::default();
    let parser = syn::meta::parser(|meta| options.parse(meta));
    if let Err(e) = syn::parse::Parser::parse(parser, args) {
        return with_item(e, item);
    }
    let function = match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let e = syn::Error::new(
                e.span(),
                "#[circuit] goes on a function with a body, returning `Result<T, E>`",
            );
            return with_item(e, item);
        }
    };
    match expand::expand(flavor, options, function) {
        Ok(tokens) => tokens.into(),
        Err(e) => with_item(e, item),
    }
}

/// The error, and the item unchanged: the function still exists, so its callers do not pile up
/// errors of their own on top of the one that matters.
fn with_item(e: syn::Error, item: TokenStream) -> TokenStream {
    let mut out: TokenStream = e.to_compile_error().into();
    out.extend(item);
    out
}

macro_rules! flavors {
    ($($(#[$doc:meta])* $name:ident => $flavor:expr;)*) => {$(
        $(#[$doc])*
        #[doc = ""]
        #[doc = "The attribute is documented in [the crate root](crate)."]
        #[proc_macro_attribute]
        pub fn $name(args: TokenStream, item: TokenStream) -> TokenStream {
            circuit($flavor, args, item)
        }
    )*};
}

flavors! {
    /// `#[circuit]` bound to `breaker_tokio` (re-exported as `breaker_tokio::circuit`).
    circuit_tokio => Flavor::Adapter("breaker_tokio");
    /// `#[circuit]` bound to `breaker_smol` (re-exported as `breaker_smol::circuit`).
    circuit_smol => Flavor::Adapter("breaker_smol");
    /// `#[circuit]` bound to `breaker_async_std` (re-exported as `breaker_async_std::circuit`).
    circuit_async_std => Flavor::Adapter("breaker_async_std");
    /// `#[circuit]` bound to `breaker_embassy` (re-exported as `breaker_embassy::circuit`).
    circuit_embassy => Flavor::Adapter("breaker_embassy");
    /// `#[circuit]` bound to `breaker_core` on `StdClock`, for code without an async runtime
    /// (re-exported as `breaker_core::circuit` with the `macros` feature).
    circuit_core => Flavor::Core;
}

//! The expansion: the function with its body run through a permit of a `static` breaker, and a
//! sibling function that returns that breaker.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, Pat, PatIdent, PathArguments, ReturnType, Stmt, Type,
};

use crate::options::{ErrorRule, Options, Recovery};

/// What the generated code names in the runtime's crate.
#[derive(Clone, Copy)]
pub(crate) enum Flavor {
    /// An adapter: `$crate::CircuitBreaker` is already bound to the runtime's clock.
    Adapter(&'static str),
    /// `breaker-core`: `CircuitBreaker<StdClock>`.
    Core,
}

impl Flavor {
    fn default_crate(self) -> &'static str {
        match self {
            Flavor::Adapter(name) => name,
            Flavor::Core => "breaker_core",
        }
    }
}

/// `Result<T, E>` split into its parts, with the path kept (`io::Result` is refused: `E` must be
/// spelled out to be wrapped).
struct ResultType {
    ty: Type,
    err: Type,
}

fn result_type(output: &ReturnType, sig_span: Span) -> syn::Result<ResultType> {
    const HELP: &str = "#[circuit] protects a function returning `Result<T, E>` (its return type \
                        becomes `Result<T, Error<E>>`); write the error type out, as in \
                        `Result<T, std::io::Error>`";
    let ReturnType::Type(_, ty) = output else {
        return Err(syn::Error::new(sig_span, HELP));
    };
    let Type::Path(path) = &**ty else {
        return Err(syn::Error::new_spanned(ty, HELP));
    };
    let Some(last) = path.path.segments.last() else {
        return Err(syn::Error::new_spanned(ty, HELP));
    };
    if path.qself.is_some() || last.ident != "Result" {
        return Err(syn::Error::new_spanned(ty, HELP));
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return Err(syn::Error::new_spanned(ty, HELP));
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    match types[..] {
        [_, err] if args.args.len() == 2 => Ok(ResultType {
            ty: (**ty).clone(),
            err: err.clone(),
        }),
        _ => Err(syn::Error::new_spanned(ty, HELP)),
    }
}

/// The return type with its error wrapped: `Result<T, E>` to `Result<T, krate::Error<E>>`.
fn wrap_error(ty: &Type, krate: &syn::Path) -> Type {
    let mut ty = ty.clone();
    if let Type::Path(p) = &mut ty {
        if let Some(PathArguments::AngleBracketed(args)) =
            p.path.segments.last_mut().map(|s| &mut s.arguments)
        {
            if let Some(GenericArgument::Type(err)) = args.args.iter_mut().nth(1) {
                let inner = err.clone();
                *err = syn::parse_quote_spanned!(inner.span()=> #krate::Error<#inner>);
            }
        }
    }
    ty
}

/// Whether `tokens` mention `Self` (then the function is in an impl block, and the breaker
/// accessor is an associated function).
fn mentions_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "Self",
        TokenTree::Group(g) => mentions_self(g.stream()),
        _ => false,
    })
}

pub(crate) fn expand(
    flavor: Flavor,
    options: Options,
    mut item: ItemFn,
) -> syn::Result<TokenStream> {
    let sig = &item.sig;
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new_spanned(
            c,
            "#[circuit] cannot protect a `const fn`: the breaker is read at run time",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new_spanned(
            v,
            "#[circuit] cannot protect a variadic function",
        ));
    }
    let result = result_type(&sig.output, sig.span())?;
    let krate: syn::Path = match options.krate {
        Some(p) => p,
        None => {
            let name = Ident::new(flavor.default_crate(), Span::call_site());
            syn::parse_quote!(::#name)
        }
    };
    let breaker_ty = match flavor {
        Flavor::Adapter(_) => quote!(#krate::CircuitBreaker),
        Flavor::Core => quote!(#krate::CircuitBreaker<#krate::StdClock>),
    };

    let fn_name = sig.ident.unraw();
    let accessor = format_ident!("{}_breaker", fn_name, span = sig.ident.span());
    let has_receiver = sig.receiver().is_some();
    let accessor_path = if has_receiver || mentions_self(sig.to_token_stream()) {
        quote!(Self::#accessor)
    } else {
        quote!(#accessor)
    };
    let name = options
        .name
        .map_or_else(|| fn_name.to_string(), |n| n.value());

    // The configuration, checked when the `static` is evaluated: an invalid one is a compile
    // error, never a panic at run time.
    let mut builder = match &options.preset {
        Some(p) => quote_spanned!(p.span()=> #p),
        None => quote!(#krate::Config::builder()),
    };
    builder.extend(quote!(.name(#name)));
    for (method, setting) in [
        ("failure_threshold", &options.failure_threshold),
        ("success_threshold", &options.success_threshold),
        ("half_open_trials", &options.half_open_trials),
    ] {
        if let Some(s) = setting {
            let m = Ident::new(method, s.span);
            let v = &s.value;
            builder.extend(quote_spanned!(v.span()=> .#m(#v)));
        }
    }
    match &options.recovery {
        Some(Recovery::Micros(micros, span)) => builder
            .extend(quote_spanned!(*span=> .open_for(#krate::Duration::from_micros(#micros)))),
        Some(Recovery::Expr(e)) => builder.extend(quote_spanned!(e.span()=> .open_for(#e))),
        None => {}
    }
    let invalid = format!("invalid circuit breaker configuration in #[circuit] on `{fn_name}`");
    let vis = &item.vis;
    let accessor_doc = format!(
        "The circuit breaker of [`{fn_name}`](#{fn_name}) (`#[circuit]`, named `\"{name}\"`): \
         its state, statistics and manual control."
    );
    let accessor_fn = quote! {
        #[doc = #accessor_doc]
        #[inline]
        #vis fn #accessor() -> &'static #breaker_ty {
            static BREAKER: #breaker_ty = <#breaker_ty>::new(
                match #builder.build() {
                    ::core::result::Result::Ok(config) => config,
                    ::core::result::Result::Err(_) => ::core::panic!(#invalid),
                },
            );
            &BREAKER
        }
    };

    // Arguments the fallback is called with: the same ones, so patterns are bound to names
    // first and destructured inside the body.
    let mut forwarded = Vec::new();
    let mut destructure: Vec<Stmt> = Vec::new();
    if options.fallback.is_some() {
        for (i, arg) in item.sig.inputs.iter_mut().enumerate() {
            match arg {
                FnArg::Receiver(r) => forwarded.push(r.self_token.to_token_stream()),
                FnArg::Typed(t) => match &*t.pat {
                    Pat::Ident(PatIdent {
                        by_ref: None,
                        subpat: None,
                        ident,
                        ..
                    }) => forwarded.push(ident.to_token_stream()),
                    _ => {
                        let fresh = format_ident!("__circuit_arg{}", i);
                        let pat = core::mem::replace(&mut *t.pat, syn::parse_quote!(#fresh));
                        destructure.push(syn::parse_quote!(let #pat = #fresh;));
                        forwarded.push(fresh.to_token_stream());
                    }
                },
            }
        }
    }

    let is_async = item.sig.asyncness.is_some();
    let ok = quote!(::core::result::Result::Ok);
    let err = quote!(::core::result::Result::Err);
    let on_reject = match &options.fallback {
        None => quote! { return #err(#krate::Error::Rejected(__circuit_rejected)) },
        Some(fallback) => {
            let call = if is_async {
                quote_spanned!(fallback.span()=> #fallback(#(#forwarded),*).await)
            } else {
                quote_spanned!(fallback.span()=> #fallback(#(#forwarded),*))
            };
            quote! {{
                let _ = __circuit_rejected;
                return match #call {
                    #ok(value) => #ok(value),
                    #err(error) => #err(#krate::Error::Inner(error)),
                };
            }}
        }
    };

    let err_ty = &result.err;
    let rule = |rule: &ErrorRule| match rule {
        ErrorRule::Predicate(e) => quote_spanned!(e.span()=> __circuit_rule::<#err_ty, _>(#e)),
        ErrorRule::Patterns(p) => quote_spanned!(p.span()=>
            __circuit_rule::<#err_ty, _>(|__circuit_error: &#err_ty| ::core::matches!(__circuit_error, #p))
        ),
    };
    let outcome = quote!(#krate::Outcome);
    let mut rules = TokenStream::new();
    let mut judge_error = quote!(#outcome::Failure);
    if let Some(expected) = &options.expected {
        let r = rule(expected);
        rules.extend(quote!(#[allow(unused_mut)] let mut __circuit_expected = #r;));
        judge_error = quote! {
            if __circuit_expected(__circuit_error) { #outcome::Failure } else { #outcome::Ignored }
        };
    }
    if let Some(exclude) = &options.exclude {
        let r = rule(exclude);
        rules.extend(quote!(#[allow(unused_mut)] let mut __circuit_exclude = #r;));
        judge_error = quote! {
            if __circuit_exclude(__circuit_error) { #outcome::Success } else { #judge_error }
        };
    }
    let classify = quote! {
        let mut __circuit_classify = {
            #[inline(always)]
            fn __circuit_rule<E, P: ::core::ops::FnMut(&E) -> bool>(p: P) -> P {
                p
            }
            #rules
            move |__circuit_result: &::core::result::Result<_, #err_ty>| -> #outcome {
                match __circuit_result {
                    #ok(_) => #outcome::Success,
                    #err(__circuit_error) => { #judge_error }
                }
            }
        };
    };

    let ret_ty = &result.ty;
    // The body's statements, not its block: a block as the tail of a closure or async block
    // would draw the `unused_braces` lint on a one-expression body.
    let body = &item.block.stmts;
    // The body keeps its own `return` and `?` (typed by the original return type) inside an
    // async block or a closure; the `if false` arm only names that type for inference.
    let hint = quote! {
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
        if false {
            let __circuit_hint: #ret_ty = loop {};
            return __circuit_hint;
        }
    };
    let run = if is_async {
        quote! {
            let __circuit_result: #ret_ty = async move {
                #hint
                #(#destructure)*
                #(#body)*
            }
            .await;
        }
    } else {
        quote! {
            #[allow(clippy::redundant_closure_call)]
            let __circuit_result: #ret_ty = (move || {
                #hint
                #(#destructure)*
                #(#body)*
            })();
        }
    };

    item.sig.output =
        ReturnType::Type(Default::default(), Box::new(wrap_error(&result.ty, &krate)));
    let attrs = &item.attrs;
    let sig = &item.sig;
    // An async function awaits a failure's answer from a breaker kind that decides reports
    // later (a shared breaker), so that the call that trips it learns it; for the in-process
    // breaker `conclude_async` is `conclude`.
    let conclude = if is_async {
        quote! { __circuit_permit.conclude_async(__circuit_result, &mut __circuit_classify).await }
    } else {
        quote! { __circuit_permit.conclude(__circuit_result, &mut __circuit_classify) }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            let __circuit_permit = match #accessor_path().try_acquire() {
                #ok(permit) => permit,
                #err(__circuit_rejected) => #on_reject,
            };
            #run
            #classify
            #conclude
        }
        #accessor_fn
    })
}

//! `#[chare]`: turns an `impl` block into a chare type of the Chare runtime.
//!
//! Users reach this macro through `chare::chare` (re-exported); the runtime's
//! crate docs describe the model. What the macro generates, for
//! `#[chare] impl Worker { fn new(..) -> Self; #[entry] fn work(&mut self, ..); }`:
//!
//! 1. the impl block itself, with the `#[entry]` markers removed;
//! 2. a message enum `WorkerMsg` with one variant per entry method, holding
//!    the arguments and an optional reply handle for the return value;
//! 3. `impl chare::Chare for Worker`: constructor arguments (`Init`), entry
//!    names, and `dispatch`, which matches a message to its method. Async entry
//!    methods become a task borrowing the chare until it finishes;
//! 4. `WorkerEntries` (what `Proxy<Worker>` dereferences to): one method per
//!    entry that sends the call, a `NAME_ret` method returning a `Future` of the
//!    result, and for one-argument entries a `NAME_callback` usable as a
//!    reduction target;
//! 5. `WorkerBroadcast` (what `CollectionProxy<Worker>` dereferences to): the
//!    same methods, sent to every element; `NAME_ret` completes when all
//!    elements ran the method.
//!
//! The first parameter after `self` (or the first parameter of `new`) is the
//! context when its type is `&Ctx<..>`; it may be left out.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{parse_macro_input, spanned::Spanned, FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType, Type};

/// Marks an `impl` block as a chare type; see the crate docs.
#[proc_macro_attribute]
pub fn chare(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(Span::call_site(), "#[chare] takes no arguments").to_compile_error().into();
    }
    let input = parse_macro_input!(item as ItemImpl);
    match expand(input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Marks an entry method inside a `#[chare]` impl block. Outside one it is an error.
#[proc_macro_attribute]
pub fn entry(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let f: TokenStream2 = item.into();
    syn::Error::new(f.span(), "#[entry] is only valid on methods inside a #[chare] impl block")
        .to_compile_error()
        .into()
}

/// Makes a struct or enum a message type: something an entry method, a
/// future or a channel can carry between processes.
///
/// `#[message]` adds serde's `Serialize` and `Deserialize` derives through
/// the copy of serde that `chare` re-exports (`chare::serde`), so the
/// program needs no `serde` dependency of its own. It expands to
///
/// ```ignore
/// #[derive(::chare::serde::Serialize, ::chare::serde::Deserialize)]
/// #[serde(crate = "::chare::serde")]
/// ```
///
/// serde's field and container attributes (`#[serde(skip)]`,
/// `#[serde(default)]`, ...) work as usual. Entry arguments must also be
/// `Clone + Send`: derive `Clone` yourself. Example (tested in the `chare`
/// crate docs, "Values between processes"):
///
/// ```ignore
/// use chare::prelude::*;
///
/// #[message]
/// #[derive(Clone, Debug)]
/// struct Particle { pos: [f64; 3], id: u64 }
/// ```
#[proc_macro_attribute]
pub fn message(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(Span::call_site(), "#[message] takes no arguments").to_compile_error().into();
    }
    let input = parse_macro_input!(item as syn::DeriveInput);
    if let syn::Data::Union(u) = &input.data {
        return syn::Error::new(u.union_token.span, "#[message] applies to a struct or an enum, not a union")
            .to_compile_error()
            .into();
    }
    quote! {
        #[derive(::chare::serde::Serialize, ::chare::serde::Deserialize)]
        #[serde(crate = "::chare::serde")]
        #input
    }
    .into()
}

struct Entry {
    name: syn::Ident,
    is_async: bool,
    takes_ctx: bool,
    arg_types: Vec<Type>,
    ret: Type,
    mut_self: bool,
}

fn is_ctx_type(ty: &Type) -> bool {
    if let Type::Reference(r) = ty {
        if let Type::Path(p) = &*r.elem {
            if let Some(seg) = p.path.segments.last() {
                return seg.ident == "Ctx";
            }
        }
    }
    false
}

fn is_entry_attr(a: &syn::Attribute) -> bool {
    a.path().segments.last().map(|s| s.ident == "entry").unwrap_or(false)
}

fn parse_entry(f: &ImplItemFn) -> syn::Result<Entry> {
    let sig = &f.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(sig.generics.span(), "entry methods cannot be generic"));
    }
    let mut inputs = sig.inputs.iter();
    let mut_self = match inputs.next() {
        Some(FnArg::Receiver(r)) => {
            if r.reference.is_none() {
                return Err(syn::Error::new(r.span(), "entry methods take &self or &mut self"));
            }
            r.mutability.is_some()
        }
        _ => return Err(syn::Error::new(sig.span(), "entry methods take &self or &mut self first")),
    };
    let mut takes_ctx = false;
    let mut arg_types = Vec::new();
    for (i, arg) in inputs.enumerate() {
        let FnArg::Typed(pt) = arg else {
            return Err(syn::Error::new(arg.span(), "unexpected receiver"));
        };
        if i == 0 && is_ctx_type(&pt.ty) {
            takes_ctx = true;
            continue;
        }
        if let Type::Reference(_) | Type::ImplTrait(_) = &*pt.ty {
            return Err(syn::Error::new(
                pt.ty.span(),
                "entry method arguments are sent in messages: they must be owned values",
            ));
        }
        arg_types.push((*pt.ty).clone());
    }
    let ret = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, t) => (**t).clone(),
    };
    Ok(Entry { name: sig.ident.clone(), is_async: sig.asyncness.is_some(), takes_ctx, arg_types, ret, mut_self })
}

fn expand(mut input: ItemImpl) -> syn::Result<TokenStream2> {
    if input.trait_.is_some() {
        return Err(syn::Error::new(input.span(), "#[chare] goes on an inherent impl block"));
    }
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(input.generics.span(), "chare types cannot be generic"));
    }
    let self_ty = (*input.self_ty).clone();
    let type_name = match &self_ty {
        Type::Path(p) => p.path.segments.last().unwrap().ident.clone(),
        _ => return Err(syn::Error::new(self_ty.span(), "#[chare] needs a named type")),
    };

    let mut entries = Vec::new();
    let mut ctor: Option<(bool, Vec<Type>)> = None;
    for item in input.items.iter_mut() {
        let ImplItem::Fn(f) = item else { continue };
        let marked = f.attrs.iter().any(is_entry_attr);
        f.attrs.retain(|a| !is_entry_attr(a));
        if marked {
            entries.push(parse_entry(f)?);
        } else if f.sig.ident == "new" {
            let mut takes_ctx = false;
            let mut tys = Vec::new();
            for (i, arg) in f.sig.inputs.iter().enumerate() {
                let FnArg::Typed(pt) = arg else {
                    return Err(syn::Error::new(arg.span(), "the constructor `new` takes no self"));
                };
                if i == 0 && is_ctx_type(&pt.ty) {
                    takes_ctx = true;
                } else {
                    tys.push((*pt.ty).clone());
                }
            }
            ctor = Some((takes_ctx, tys));
        }
    }
    let Some((ctor_ctx, ctor_tys)) = ctor else {
        return Err(syn::Error::new(
            input.self_ty.span(),
            "a chare needs a constructor `fn new([ctx: &Ctx<Self>,] args..) -> Self`",
        ));
    };
    if entries.is_empty() {
        return Err(syn::Error::new(input.self_ty.span(), "a chare needs at least one #[entry] method"));
    }

    let msg = format_ident!("{}Msg", type_name);
    let entries_ty = format_ident!("{}Entries", type_name);
    let bcast_ty = format_ident!("{}Broadcast", type_name);
    let name_str = type_name.to_string();

    // Constructor.
    let init_idx: Vec<syn::Index> = (0..ctor_tys.len()).map(syn::Index::from).collect();
    let ctor_ctx_arg = if ctor_ctx { quote!(ctx,) } else { quote!() };
    let construct = quote! {
        fn construct(ctx: &::chare::Ctx<Self>, init: Self::Init) -> Self {
            let _ = &ctx;
            let _ = &init;
            <#self_ty>::new(#ctor_ctx_arg #(init.#init_idx),*)
        }
    };

    let mut variants = Vec::new();
    let mut name_arms = Vec::new();
    let mut dispatch_arms = Vec::new();
    let mut elem_methods = Vec::new();
    let mut bcast_methods = Vec::new();
    for e in &entries {
        let vname = &e.name;
        let tys = &e.arg_types;
        let args: Vec<syn::Ident> = (0..tys.len()).map(|i| format_ident!("a{}", i)).collect();
        let ret = &e.ret;
        let ename = vname.to_string();
        variants.push(quote! { #vname(#(#tys,)* ::core::option::Option<::chare::Reply>) });
        name_arms.push(quote! { #msg::#vname(..) => #ename });
        let ctx_arg = if e.takes_ctx { quote!(ctx,) } else { quote!() };
        let this = if e.mut_self { quote!(self) } else { quote!(&*self) };
        if e.is_async {
            dispatch_arms.push(quote! {
                #msg::#vname(#(#args,)* reply) => ::chare::Dispatch::Task(::std::boxed::Box::pin(async move {
                    let r: #ret = <#self_ty>::#vname(#this, #ctx_arg #(#args),*).await;
                    ::chare::Reply::send_opt(reply, r);
                }))
            });
        } else {
            dispatch_arms.push(quote! {
                #msg::#vname(#(#args,)* reply) => {
                    let r: #ret = <#self_ty>::#vname(#this, #ctx_arg #(#args),*);
                    ::chare::Reply::send_opt(reply, r);
                    ::chare::Dispatch::Done
                }
            });
        }
        let ret_name = format_ident!("{}_ret", vname);
        let doc_send = format!("Calls entry method `{}` asynchronously.", ename);
        let doc_ret = format!("Calls entry method `{}` and returns a `Future` of its return value.", ename);
        elem_methods.push(quote! {
            #[doc = #doc_send]
            pub fn #vname(&self, #(#args: #tys),*) {
                self.raw.send::<#self_ty>(#msg::#vname(#(#args,)* None))
            }
            #[doc = #doc_ret]
            pub fn #ret_name(&self, #(#args: #tys),*) -> ::chare::Future<#ret> {
                let (f, reply) = ::chare::Reply::new_single::<#ret>();
                self.raw.send::<#self_ty>(#msg::#vname(#(#args,)* Some(reply)));
                f
            }
        });
        let doc_bsend = format!("Calls entry method `{}` on every element.", ename);
        let doc_bret =
            format!("Calls entry method `{}` on every element; the future completes once all ran it.", ename);
        bcast_methods.push(quote! {
            #[doc = #doc_bsend]
            pub fn #vname(&self, #(#args: #tys),*) {
                self.raw.broadcast::<#self_ty>(#msg::#vname(#(#args,)* None))
            }
            #[doc = #doc_bret]
            pub fn #ret_name(&self, #(#args: #tys),*) -> ::chare::Future<()> {
                let (f, reply) = ::chare::Reply::new_counted(self.raw.len());
                self.raw.broadcast::<#self_ty>(#msg::#vname(#(#args,)* Some(reply)));
                f
            }
        });
        if tys.len() == 1 {
            let ty = &tys[0];
            let cb_name = format_ident!("{}_callback", vname);
            let doc_cb = format!("A callback that calls `{}` with a value, e.g. a reduction's result.", ename);
            elem_methods.push(quote! {
                #[doc = #doc_cb]
                pub fn #cb_name(&self) -> ::chare::Callback<#ty> {
                    ::chare::Callback::to_elem::<#self_ty>(self.raw.clone(), |v| #msg::#vname(v, None))
                }
            });
            bcast_methods.push(quote! {
                #[doc = #doc_cb]
                pub fn #cb_name(&self) -> ::chare::Callback<#ty> {
                    ::chare::Callback::to_all::<#self_ty>(self.raw.clone(), |v| #msg::#vname(v, None))
                }
            });
        }
    }
    let init_tys = &ctor_tys;
    let msg_doc = format!("Entry-method calls of chare `{}`, one variant per entry.", name_str);
    let entries_doc =
        format!("Entry methods of one `{}` element (`Proxy<{}>` dereferences to this).", name_str, name_str);
    let bcast_doc = format!("Entry methods of a whole `{}` collection, broadcast to every element.", name_str);

    Ok(quote! {
        #input

        #[doc = #msg_doc]
        #[allow(non_camel_case_types)]
        #[derive(Clone, ::chare::__private::serde::Serialize, ::chare::__private::serde::Deserialize)]
        #[serde(crate = "::chare::__private::serde")]
        pub enum #msg { #(#variants),* }

        impl ::chare::Chare for #self_ty {
            type Init = (#(#init_tys,)*);
            type Msg = #msg;
            type Entries = #entries_ty;
            type Broadcast = #bcast_ty;
            const NAME: &'static str = #name_str;
            const PATH: &'static str = ::core::concat!(::core::module_path!(), "::", #name_str);
            #construct
            fn entry_name(msg: &Self::Msg) -> &'static str {
                match msg { #(#name_arms),* }
            }
            fn dispatch<'a>(&'a mut self, ctx: &'a ::chare::Ctx<Self>, msg: Self::Msg) -> ::chare::Dispatch<'a> {
                let _ = &ctx;
                match msg { #(#dispatch_arms),* }
            }
        }

        ::chare::__private::inventory::submit! {
            ::chare::__private::ChareType {
                path: ::core::concat!(::core::module_path!(), "::", #name_str),
                create: ::chare::__private::create_from_wire::<#self_ty>,
            }
        }

        #[doc = #entries_doc]
        #[derive(Clone)]
        pub struct #entries_ty { raw: ::chare::ElemRef }
        impl ::chare::EntriesOf for #entries_ty {
            fn from_raw(raw: ::chare::ElemRef) -> Self { Self { raw } }
            fn raw(&self) -> &::chare::ElemRef { &self.raw }
        }
        #[allow(clippy::unused_unit)]
        impl #entries_ty { #(#elem_methods)* }

        #[doc = #bcast_doc]
        #[derive(Clone)]
        pub struct #bcast_ty { raw: ::chare::CollRef }
        impl ::chare::BroadcastOf for #bcast_ty {
            fn from_raw(raw: ::chare::CollRef) -> Self { Self { raw } }
            fn raw(&self) -> &::chare::CollRef { &self.raw }
        }
        #[allow(clippy::unused_unit)]
        impl #bcast_ty { #(#bcast_methods)* }
    })
}

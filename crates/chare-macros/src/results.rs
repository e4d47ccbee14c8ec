//! What `#[chare]` generates for results beyond `NAME_ret`: the reply
//! handle of a message (for the runtime), `NAME_try_ret` on an element,
//! `NAME_all_ret` and `NAME_try_all_ret` on a collection.

use crate::Entry;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::Type;

/// Per entry: the match arm of `Chare::reply_of`, the element methods and
/// the collection methods.
pub(crate) fn methods(e: &Entry, msg: &syn::Ident, self_ty: &Type) -> (TokenStream2, TokenStream2, TokenStream2) {
    let vname = &e.name;
    let tys = &e.arg_types;
    let args: Vec<syn::Ident> = (0..tys.len()).map(|i| format_ident!("a{}", i)).collect();
    let ret = &e.ret;
    let ename = vname.to_string();
    let reply_arm = quote! { #msg::#vname(.., reply) => reply.as_mut() };
    let try_name = format_ident!("{}_try_ret", vname);
    let all_name = format_ident!("{}_all_ret", vname);
    let try_all_name = format_ident!("{}_try_all_ret", vname);
    let doc_try = format!(
        "Calls entry method `{ename}`; the future gets `Ok` of its return value, or `Err` if it panicked \
         (the job goes on)."
    );
    let doc_all =
        format!("Calls entry method `{ename}` on every element (of the section, for a section); the future gets their return values in index order.");
    let doc_try_all = format!(
        "Calls entry method `{ename}` on every element; the future gets each element's `Ok(value)` or `Err` \
         (it panicked), in index order (the job goes on)."
    );
    let elem = quote! {
        #[doc = #doc_try]
        pub fn #try_name(&self, #(#args: #tys),*)
            -> ::chare::Future<::core::result::Result<#ret, ::chare::EntryError>> {
            let (f, reply) = ::chare::Reply::new_try::<#ret>();
            self.raw.send::<#self_ty>(#msg::#vname(#(#args,)* Some(reply)));
            f
        }
    };
    let bcast = quote! {
        #[doc = #doc_all]
        pub fn #all_name(&self, #(#args: #tys),*) -> ::chare::Future<::std::vec::Vec<#ret>> {
            let (f, reply) = ::chare::Reply::new_gather_for::<#ret>(&self.raw);
            self.raw.broadcast::<#self_ty>(#msg::#vname(#(#args,)* Some(reply)));
            f
        }
        #[doc = #doc_try_all]
        pub fn #try_all_name(&self, #(#args: #tys),*)
            -> ::chare::Future<::std::vec::Vec<::core::result::Result<#ret, ::chare::EntryError>>> {
            let (f, reply) = ::chare::Reply::new_try_gather_for::<#ret>(&self.raw);
            self.raw.broadcast::<#self_ty>(#msg::#vname(#(#args,)* Some(reply)));
            f
        }
    };
    (reply_arm, elem, bcast)
}

//! `#[sql_bounds]` adds to an `impl` block or a function, generic over one `sqlx::Database`
//! type parameter, the sqlx bounds a query written once for SQLite and PostgreSQL needs: every
//! value type we bind, executing on a connection, and decoding the named row types.
//!
//! Why a macro: Rust does not carry a trait's where-clauses to its users (only supertraits),
//! so a helper trait with a blanket impl would still make every impl repeat these lines. An
//! attribute keeps the item plain Rust that rustfmt formats and the compiler checks as usual.

use proc_macro::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{GenericParam, Generics, Item, Token, Type, WherePredicate, parse_macro_input, parse_quote};

/// `#[db::sql_bounds(TaskRow, CountRow)]` on `impl<DB: Dialect> … { … }` or on
/// `async fn f<DB: Dialect>(…)`: the first type parameter is the database; the arguments are
/// the `FromRow` types the item decodes.
#[proc_macro_attribute]
pub fn sql_bounds(attr: TokenStream, item: TokenStream) -> TokenStream {
    let rows = parse_macro_input!(attr with Punctuated::<Type, Token![,]>::parse_terminated);
    let mut item = parse_macro_input!(item as Item);
    let generics = match &mut item {
        Item::Impl(item) => &mut item.generics,
        Item::Fn(item) => &mut item.sig.generics,
        other => {
            return syn::Error::new_spanned(other, "#[sql_bounds] goes on an impl block or a function")
                .to_compile_error()
                .into();
        }
    };
    if let Err(e) = add_bounds(generics, rows.iter()) {
        return e.to_compile_error().into();
    }
    quote!(#item).into()
}

fn add_bounds<'a>(generics: &mut Generics, rows: impl Iterator<Item = &'a Type>) -> syn::Result<()> {
    let db = generics
        .params
        .iter()
        .find_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.clone()),
            _ => None,
        })
        .ok_or_else(|| syn::Error::new_spanned(&*generics, "#[sql_bounds] needs a database type parameter"))?;
    let mut bounds: Vec<WherePredicate> = vec![
        parse_quote!(#db: ::sqlx::Database),
        parse_quote!(for<'c> &'c mut <#db as ::sqlx::Database>::Connection: ::sqlx::Executor<'c, Database = #db>),
        parse_quote!(<#db as ::sqlx::Database>::Arguments: ::sqlx::IntoArguments<#db>),
    ];
    let values: [Type; 7] = [
        parse_quote!(i32),
        parse_quote!(i64),
        parse_quote!(bool),
        parse_quote!(::std::string::String),
        parse_quote!(::chrono::DateTime<::chrono::Utc>),
        parse_quote!(::uuid::Uuid),
        parse_quote!(::sqlx::types::Json<::serde_json::Value>),
    ];
    for value in &values {
        bounds.push(parse_quote!(for<'q> #value: ::sqlx::Encode<'q, #db> + ::sqlx::Type<#db>));
        bounds.push(parse_quote!(for<'q> ::std::option::Option<#value>: ::sqlx::Encode<'q, #db>));
    }
    for row in rows {
        bounds.push(parse_quote!(for<'r> #row: ::sqlx::FromRow<'r, <#db as ::sqlx::Database>::Row>));
    }
    generics.make_where_clause().predicates.extend(bounds);
    Ok(())
}

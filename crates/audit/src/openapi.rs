use utoipa::OpenApi;

use crate::trail;

#[derive(OpenApi)]
#[openapi(paths(trail::audit_trail))]
pub struct AuditDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    AuditDoc::openapi()
}

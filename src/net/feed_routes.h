#pragma once
// Read-only account routes the 0.49 client family added (notes/dialect-049.md §3.3), served the
// same way to either dialect (0.9.1 never calls them):
//  * GET /v1/logs?after&limit&model&op&since — the delta log as `logListResponseSchema` reads
//    it: the list envelope of `log_event`s, oldest first, only deltas the caller may read
//    (authz/authorizer.h); `next_cursor` "<log id>.0" is the position to pass back as `after`.
//    Without `after` the page is the tail of the log.
//  * GET /v1/schema — the active schema as `schemaReadResponseSchema` reads it: per model its
//    key, typename, declared `conflict` (or null), content hash, fields and relations.
//  * GET /v1/schema/versions?limit — the schema's history, newest first (our extension, for the
//    console): each version's number, hash, push time and the change from the version before it
//    (schema/diff.h's plan, recomputed from the two stored schemas: a push's renames were hints,
//    not stored, so a renamed field shows as a removal and an addition).
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.h"
#include "engine/engine.h"
#include "net/http_types.h"

namespace ablo::net {

class FeedRoutes {
 public:
  explicit FeedRoutes(engine::Engine& engine);

  // `parts` start at "v1". nullopt when the request is not one of these routes.
  std::optional<Result<HttpResponse>> route(const HttpRequest& request, const std::vector<std::string>& parts,
                                            const auth::Principal& principal) const;
  // GET /v1/schema; also GET /api/schema, which the 0.49 CLI reads with the same schema (and
  // no dialect header), with `with_pushed_json` adding the pushed JSON as `schema`.
  Result<HttpResponse> schema(const auth::Principal& principal, bool with_pushed_json = false) const;

 private:
  Result<HttpResponse> logs(const HttpRequest& request, const auth::Principal& principal) const;
  Result<HttpResponse> schema_versions(const HttpRequest& request) const;

  engine::Engine& engine_;
};

}  // namespace ablo::net

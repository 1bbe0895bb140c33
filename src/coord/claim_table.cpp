#include "coord/claim_table.h"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <tuple>
#include <limits>

namespace ablo::coord {

namespace {

std::string intent_key(const std::string& tenant, const std::string& intent_id) { return tenant + '\x1f' + intent_id; }

// Field names compare spelling-insensitively: "dueDate", "due_date" and "DueDate" are one field.
std::string field_key(std::string_view field) {
  std::string key;
  for (char c : field) {
    if (c != '_') key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return key;
}

bool sets_intersect(const std::set<std::string>& a, const std::set<std::string>& b) {
  return std::any_of(a.begin(), a.end(), [&](const std::string& f) { return b.count(f) > 0; });
}

// Either names the whole entity, or their field sets share a field.
bool targets_overlap(const Claim& a, const Claim& b) {
  const auto a_fields = claim_field_keys(a);
  const auto b_fields = claim_field_keys(b);
  return a_fields.empty() || b_fields.empty() || sets_intersect(a_fields, b_fields);
}

}  // namespace

std::set<std::string> claim_field_keys(const Claim& claim) {
  std::set<std::string> keys;
  if (!claim.field.empty()) keys.insert(field_key(claim.field));
  for (const auto& f : claim.fields) {
    if (!f.empty()) keys.insert(field_key(f));
  }
  return keys;
}

ClaimTable::ClaimTable(Reachable reachable) : reachable_(std::move(reachable)) {}

std::string ClaimTable::entity_key(const std::string& tenant, const std::string& model, const std::string& id) {
  return tenant + '\x1f' + model + '\x1f' + id;
}

bool ClaimTable::conflicts(const Claim& a, const Claim& b) { return !(a.owner == b.owner) && targets_overlap(a, b); }

int ClaimTable::position_in(const Line& line, const Claim& claim) {
  int ahead = 0;
  for (const auto& other : line) {
    if (&other == &claim) return ahead;
    if (other.status == ClaimStatus::kQueued) ++ahead;
  }
  return ahead;
}

BeginOutcome ClaimTable::begin(Claim request, bool queue, int64_t now, Changes& changes) {
  const std::string ikey = intent_key(request.tenant, request.intent_id);
  if (auto known = by_intent_.find(ikey); known != by_intent_.end()) {
    auto& line = lines_[known->second];
    auto it = std::find_if(line.begin(), line.end(), [&](const Claim& c) { return c.intent_id == request.intent_id; });
    if (!(it->owner == request.owner)) return {BeginOutcome::Kind::kForeignId, 0, std::nullopt, *it, false};
    // Re-announced after a reconnect: the claim continues on the new socket.
    if (request.session != 0) it->session = request.session;
    if (it->status == ClaimStatus::kActive) return {BeginOutcome::Kind::kAcquired, 0, *it, std::nullopt, true};
    return {BeginOutcome::Kind::kQueued, position_in(line, *it), *it, std::nullopt, true};
  }

  const std::string key = entity_key(request.tenant, request.model, request.entity_id);
  auto& line = lines_[key];
  const bool holds_already = std::any_of(line.begin(), line.end(), [&](const Claim& c) {
    return c.status == ClaimStatus::kActive && c.owner == request.owner && targets_overlap(c, request);
  });
  const Claim* blocking_holder = nullptr;
  const Claim* blocking_waiter = nullptr;
  for (const auto& c : line) {
    if (!conflicts(c, request)) continue;
    const Claim*& slot = c.status == ClaimStatus::kActive ? blocking_holder : blocking_waiter;
    if (!slot) slot = &c;
  }
  // An owner extending its own hold does not wait behind the line, but never overrides
  // another owner's active claim.
  const Claim* blocker = blocking_holder ? blocking_holder : holds_already ? nullptr : blocking_waiter;
  request.declared_at_ms = now;
  if (!blocker) {
    line.push_back(std::move(request));
    by_intent_[ikey] = key;
    grant(line.back(), now, changes, /*announce=*/false);
    return {BeginOutcome::Kind::kAcquired, 0, line.back(), std::nullopt, false};
  }
  if (!queue) {
    Claim in_the_way = *blocker;
    erase_line_if_empty(key);
    return {BeginOutcome::Kind::kRejected, 0, std::nullopt, std::move(in_the_way), false};
  }
  request.status = ClaimStatus::kQueued;
  // Heartbeats keep a ticket in line; a caller waiting server-side keeps it at least that long.
  if (request.ticket) request.expires_at_ms = std::max(request.expires_at_ms, now + request.ttl_ms);
  line.push_back(std::move(request));
  by_intent_[ikey] = key;
  changes.entities.insert(key);
  return {BeginOutcome::Kind::kQueued, position_in(line, line.back()), line.back(), std::nullopt, false};
}

void ClaimTable::grant(Claim& claim, int64_t now, Changes& changes, bool announce) {
  claim.status = ClaimStatus::kActive;
  claim.expires_at_ms = now + claim.ttl_ms;
  claim.fence_token = ++last_fence_;
  claim.read_at = delta_head_;
  changes.entities.insert(entity_key(claim.tenant, claim.model, claim.entity_id));
  changes.participants.emplace(claim.tenant, claim.owner.participant_id);
  if (announce) changes.transitions.push_back({Transition::Kind::kGranted, claim, false, {}, false});
}

void ClaimTable::end(const std::string& key, Line::iterator it, const std::string& terminal, bool involuntary,
                     Changes& changes) {
  const bool was_active = it->status == ClaimStatus::kActive;
  if (was_active) changes.participants.emplace(it->tenant, it->owner.participant_id);
  changes.entities.insert(key);
  by_intent_.erase(intent_key(it->tenant, it->intent_id));
  changes.transitions.push_back({Transition::Kind::kEnded, std::move(*it), was_active, terminal, involuntary});
  lines_[key].erase(it);
}

void ClaimTable::promote(const std::string& key, int64_t now, Changes& changes) {
  auto line_it = lines_.find(key);
  if (line_it == lines_.end()) return;
  auto& line = line_it->second;
  for (auto it = line.begin(); it != line.end();) {
    if (it->status != ClaimStatus::kQueued) {
      ++it;
      continue;
    }
    bool blocked = false;
    bool ahead = true;  // `other` is before `it` in the line
    for (auto other = line.begin(); other != line.end() && !blocked; ++other) {
      if (other == it) {
        ahead = false;
        continue;
      }
      const bool in_the_way = other->status == ClaimStatus::kActive || ahead;
      if (in_the_way && conflicts(*other, *it)) blocked = true;
    }
    if (blocked) {
      ++it;
      continue;
    }
    if (reachable_ && it->session == 0 && !it->ticket && !reachable_(*it)) {
      // Nobody could ever learn of this grant; a phantom holder would block writers for a TTL.
      auto next = std::next(it);
      end(key, it, "expired", true, changes);
      it = next;
      continue;
    }
    grant(*it, now, changes, /*announce=*/true);
    ++it;
  }
  erase_line_if_empty(key);
}

void ClaimTable::erase_line_if_empty(const std::string& key) {
  if (auto it = lines_.find(key); it != lines_.end() && it->second.empty()) lines_.erase(it);
}

std::optional<bool> ClaimTable::abandon(const std::string& tenant, const std::string& intent_id, const Owner& owner,
                                        int64_t now, Changes& changes) {
  auto known = by_intent_.find(intent_key(tenant, intent_id));
  if (known == by_intent_.end()) return std::nullopt;
  const std::string key = known->second;
  auto& line = lines_[key];
  auto it = std::find_if(line.begin(), line.end(), [&](const Claim& c) { return c.intent_id == intent_id; });
  if (!(it->owner == owner)) return false;
  end(key, it, it->wrote ? "committed" : "canceled", false, changes);
  promote(key, now, changes);
  return true;
}

std::optional<bool> ClaimTable::preempt(const std::string& tenant, const std::string& intent_id,
                                        const std::string& operator_id, int64_t now, Changes& changes) {
  auto known = by_intent_.find(intent_key(tenant, intent_id));
  if (known == by_intent_.end()) return std::nullopt;
  const std::string key = known->second;
  auto& line = lines_[key];
  auto it = std::find_if(line.begin(), line.end(), [&](const Claim& c) { return c.intent_id == intent_id; });
  end(key, it, "preempted", true, changes);
  changes.transitions.back().ended_by = operator_id;
  promote(key, now, changes);
  return true;
}

bool ClaimTable::release_entity(const std::string& tenant, const std::string& model, const std::string& id,
                                const Owner& owner, int64_t now, Changes& changes) {
  const std::string key = entity_key(tenant, model, id);
  auto line_it = lines_.find(key);
  if (line_it == lines_.end()) return false;
  bool released_active = false;
  auto& line = line_it->second;
  for (auto it = line.begin(); it != line.end();) {
    auto next = std::next(it);
    if (it->owner == owner) {
      released_active = released_active || it->status == ClaimStatus::kActive;
      end(key, it, it->wrote ? "committed" : "canceled", false, changes);
    }
    it = next;
  }
  promote(key, now, changes);
  return released_active;
}

void ClaimTable::reorder(const std::string& tenant, const std::string& model, const std::string& id,
                         const std::vector<std::string>& intent_ids, int64_t now, Changes& changes) {
  const std::string key = entity_key(tenant, model, id);
  auto line_it = lines_.find(key);
  if (line_it == lines_.end()) return;
  auto& line = line_it->second;
  Line reordered;
  for (auto it = line.begin(); it != line.end();) {  // holders keep their place at the front
    auto next = std::next(it);
    if (it->status == ClaimStatus::kActive) reordered.splice(reordered.end(), line, it);
    it = next;
  }
  for (const auto& wanted : intent_ids) {
    auto it = std::find_if(line.begin(), line.end(), [&](const Claim& c) { return c.intent_id == wanted; });
    if (it != line.end()) reordered.splice(reordered.end(), line, it);
  }
  reordered.splice(reordered.end(), line);
  line = std::move(reordered);
  changes.entities.insert(key);
  promote(key, now, changes);
}

void ClaimTable::session_closed(uint64_t session, int64_t now, Changes& changes) {
  if (session == 0) return;
  std::vector<std::string> touched;
  for (auto& [key, line] : lines_) {
    for (auto it = line.begin(); it != line.end();) {
      auto next = std::next(it);
      if (it->session == session) {
        if (it->status == ClaimStatus::kQueued) {
          end(key, it, "canceled", false, changes);  // no ghost waiters
          touched.push_back(key);
        } else {
          it->session = 0;  // stops renewing; lapses at expires_at_ms
        }
      }
      it = next;
    }
  }
  for (const auto& key : touched) promote(key, now, changes);
}

int64_t ClaimTable::sweep(int64_t now, Changes& changes, const Renews& renews) {
  int64_t next_due = std::numeric_limits<int64_t>::max();
  std::vector<std::string> expired_lines;
  for (auto& [key, line] : lines_) {
    bool expired = false;
    for (auto it = line.begin(); it != line.end();) {
      auto next = std::next(it);
      if (it->status == ClaimStatus::kActive) {
        if (it->session != 0 && (!renews || renews(it->session))) {
          const int64_t renew_at = it->expires_at_ms - it->ttl_ms / 2;
          if (now >= renew_at) {
            it->expires_at_ms = now + it->ttl_ms;
            changes.renewed.push_back(*it);
            changes.participants.emplace(it->tenant, it->owner.participant_id);
          }
          next_due = std::min(next_due, it->expires_at_ms - it->ttl_ms / 2);
        } else if (now >= it->expires_at_ms) {
          end(key, it, "expired", true, changes);
          expired = true;
        } else {
          next_due = std::min(next_due, it->expires_at_ms);
        }
      } else if (it->ticket) {
        if (now >= it->expires_at_ms) {  // not heartbeated for its TTL: leaves the line
          end(key, it, "expired", true, changes);
          expired = true;
        } else {
          next_due = std::min(next_due, it->expires_at_ms);
        }
      }
      it = next;
    }
    if (expired) expired_lines.push_back(key);
  }
  for (const auto& key : expired_lines) promote(key, now, changes);
  return next_due;
}

std::vector<Claim> ClaimTable::all_claims() const {
  std::vector<Claim> out;
  out.reserve(by_intent_.size());
  for (const auto& [key, line] : lines_) out.insert(out.end(), line.begin(), line.end());
  return out;
}

void ClaimTable::restore(const std::vector<Claim>& claims, int64_t last_fence) {
  lines_.clear();
  by_intent_.clear();
  last_fence_ = last_fence;
  for (const auto& claim : claims) {
    last_fence_ = std::max(last_fence_, claim.fence_token);
    const auto key = entity_key(claim.tenant, claim.model, claim.entity_id);
    lines_[key].push_back(claim);
    by_intent_[intent_key(claim.tenant, claim.intent_id)] = key;
  }
}

int64_t ClaimTable::next_due(const Renews& renews) const {
  int64_t next_due = std::numeric_limits<int64_t>::max();
  for (const auto& [key, line] : lines_) {
    for (const auto& claim : line) {
      if (claim.status != ClaimStatus::kActive) {
        if (claim.ticket) next_due = std::min(next_due, claim.expires_at_ms);
        continue;
      }
      const bool renewing = claim.session != 0 && (!renews || renews(claim.session));
      next_due = std::min(next_due, renewing ? claim.expires_at_ms - claim.ttl_ms / 2 : claim.expires_at_ms);
    }
  }
  return next_due;
}

bool ClaimTable::renew(const std::string& tenant, const std::string& intent_id, const Owner& owner, int64_t now) {
  auto known = by_intent_.find(intent_key(tenant, intent_id));
  if (known == by_intent_.end()) return false;
  for (auto& claim : lines_[known->second]) {
    if (claim.intent_id != intent_id) continue;
    if (!(claim.owner == owner) || claim.status != ClaimStatus::kActive) return false;
    claim.expires_at_ms = std::max(claim.expires_at_ms, now + claim.ttl_ms);
    return true;
  }
  return false;
}

std::optional<Claim> ClaimTable::heartbeat(const std::string& tenant, const std::string& intent_id,
                                           const Owner& owner, int64_t ttl_ms, int64_t now) {
  auto known = by_intent_.find(intent_key(tenant, intent_id));
  if (known == by_intent_.end()) return std::nullopt;
  for (auto& claim : lines_[known->second]) {
    if (claim.intent_id != intent_id) continue;
    if (!(claim.owner == owner)) return std::nullopt;
    // Past its end and not swept yet: too late to keep (a socket's claim is renewed by the sweep).
    const bool lapses = claim.status == ClaimStatus::kActive ? claim.session == 0 : claim.ticket;
    if (lapses && now >= claim.expires_at_ms) return std::nullopt;
    const int64_t ttl = ttl_ms > 0 ? ttl_ms : claim.ttl_ms;
    if (claim.status == ClaimStatus::kActive || claim.ticket) claim.expires_at_ms = now + ttl;
    return claim;
  }
  return std::nullopt;
}

int ClaimTable::position_of(const Claim& claim) const {
  auto line_it = lines_.find(entity_key(claim.tenant, claim.model, claim.entity_id));
  if (line_it == lines_.end()) return 0;
  int ahead = 0;
  for (const auto& other : line_it->second) {
    if (other.intent_id == claim.intent_id) return ahead;
    if (other.status == ClaimStatus::kQueued) ++ahead;
  }
  return ahead;
}

int ClaimTable::queue_depth(const std::string& tenant, const std::string& model, const std::string& id) const {
  auto line_it = lines_.find(entity_key(tenant, model, id));
  if (line_it == lines_.end()) return 0;
  return static_cast<int>(std::count_if(line_it->second.begin(), line_it->second.end(),
                                        [](const Claim& c) { return c.status == ClaimStatus::kQueued; }));
}

int64_t ClaimTable::current_fence(const Claim& claim) const {
  auto line_it = lines_.find(entity_key(claim.tenant, claim.model, claim.entity_id));
  if (line_it == lines_.end()) return 0;
  int64_t fence = 0;
  for (const auto& other : line_it->second) {
    if (other.status == ClaimStatus::kActive && targets_overlap(other, claim)) fence = std::max(fence, other.fence_token);
  }
  return fence;
}

std::optional<Claim> ClaimTable::authorize_write(const std::string& tenant, const std::string& model,
                                                 const std::string& id, const Owner& writer,
                                                 const std::set<std::string>& fields) {
  auto line_it = lines_.find(entity_key(tenant, model, id));
  if (line_it == lines_.end()) return std::nullopt;
  std::set<std::string> written;
  for (const auto& f : fields) written.insert(field_key(f));
  auto touches = [&](const Claim& c) {
    const auto claimed = claim_field_keys(c);
    return claimed.empty() || written.empty() || sets_intersect(claimed, written);
  };
  for (const auto& claim : line_it->second) {
    if (claim.status == ClaimStatus::kActive && !(claim.owner == writer) && touches(claim)) return claim;
  }
  for (auto& claim : line_it->second) {
    if (claim.status == ClaimStatus::kActive && claim.owner == writer && touches(claim)) claim.wrote = true;
  }
  return std::nullopt;
}

std::vector<Claim> ClaimTable::entity_claims(const std::string& tenant, const std::string& model,
                                             const std::string& id) const {
  std::vector<Claim> out;
  auto line_it = lines_.find(entity_key(tenant, model, id));
  if (line_it == lines_.end()) return out;
  for (const auto& c : line_it->second) {
    if (c.status == ClaimStatus::kActive) out.push_back(c);
  }
  for (const auto& c : line_it->second) {
    if (c.status == ClaimStatus::kQueued) out.push_back(c);
  }
  return out;
}

std::vector<Claim> ClaimTable::tenant_claims(const std::string& tenant) const {
  std::vector<Claim> out;
  for (const auto& [key, line] : lines_) {
    if (line.empty() || line.front().tenant != tenant) continue;
    for (const auto& c : line) out.push_back(c);
  }
  return out;
}

std::vector<Claim> ClaimTable::claims_of(const std::string& tenant, const std::string& participant_id) const {
  std::vector<Claim> out;
  for (const auto& [key, line] : lines_) {
    for (const auto& c : line) {
      if (c.tenant == tenant && c.owner.participant_id == participant_id) out.push_back(c);
    }
  }
  std::sort(out.begin(), out.end(), [](const Claim& a, const Claim& b) {
    return std::tie(a.declared_at_ms, a.intent_id) < std::tie(b.declared_at_ms, b.intent_id);
  });
  return out;
}

std::size_t ClaimTable::owner_claim_count(const std::string& tenant, const Owner& owner) const {
  std::size_t count = 0;
  for (const auto& [key, line] : lines_) {
    count += static_cast<std::size_t>(
        std::count_if(line.begin(), line.end(), [&](const Claim& c) { return c.tenant == tenant && c.owner == owner; }));
  }
  return count;
}

std::size_t ClaimTable::line_length(const std::string& tenant, const std::string& model, const std::string& id) const {
  auto it = lines_.find(entity_key(tenant, model, id));
  return it == lines_.end() ? 0 : it->second.size();
}

const Claim* ClaimTable::find(const std::string& tenant, const std::string& intent_id) const {
  auto known = by_intent_.find(intent_key(tenant, intent_id));
  if (known == by_intent_.end()) return nullptr;
  const auto& line = lines_.at(known->second);
  for (const auto& c : line) {
    if (c.intent_id == intent_id) return &c;
  }
  return nullptr;
}

}  // namespace ablo::coord

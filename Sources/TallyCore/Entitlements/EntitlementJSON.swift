extension Recurrence {
    /// Upstream `RecurringPeriod`: `{interval, intervalISO, anchor}`.
    public var json: JSONValue {
        .object([
            "interval": .string(interval.keyword), "intervalISO": .string(interval.description),
            "anchor": .string(anchor.description),
        ])
    }
}

extension TimePeriod {
    public var json: JSONValue { .object(["from": .string(from.description), "to": .string(to.description)]) }
}

extension Entitlement {
    /// The upstream `Entitlement` JSON at `now`. A metered entitlement reports its current usage period from
    /// `periods` (manual resets included) and `lastReset`, the last manual reset or else `measureUsageFrom`.
    public func json(resets: [ManualReset], now: Timestamp) -> JSONValue {
        var members: JSONObject = [
            "id": .string(id), "type": .string(kind.name), "featureId": .string(featureID),
            "featureKey": .string(featureKey), "subjectKey": .string(customer),
            "activeFrom": .string(createdAt.description), "createdAt": .string(createdAt.description),
            "updatedAt": .string(updatedAt.description),
        ]
        if let activeTo { members["activeTo"] = .string(activeTo.description) }
        if let deletedAt { members["deletedAt"] = .string(deletedAt.description) }
        if let metadata { members["metadata"] = .object(JSONObject(metadata) { .string($0) }) }
        if let usagePeriod {
            members["usagePeriod"] = usagePeriod.json
            if case .metered(let terms) = kind {
                let periods = UsagePeriods(
                    measureUsageFrom: terms.measureUsageFrom, usagePeriod: usagePeriod,
                    manualResets: resets.map { ($0.at, $0.retainAnchor) })
                members["currentUsagePeriod"] = periods.period(at: now)?.json
            } else {
                members["currentUsagePeriod"] = usagePeriod.period(containing: now)?.json
            }
        }
        switch kind {
        case .metered(let terms):
            members["isSoftLimit"] = .bool(terms.isSoftLimit)
            members["isUnlimited"] = .bool(false)
            members["issueAfterReset"] = .amount(terms.issueAfterReset)
            if let priority = terms.issueAfterResetPriority {
                members["issueAfterResetPriority"] = .number("\(priority)")
            }
            members["preserveOverageAtReset"] = .bool(terms.preserveOverageAtReset)
            members["measureUsageFrom"] = .string(terms.measureUsageFrom.description)
            members["lastReset"] = .string((resets.last?.at ?? terms.measureUsageFrom).description)
        case .boolean: break
        case .staticConfig(let config): members["config"] = .string(config)
        }
        return .object(members)
    }
}

extension GrantRecord {
    /// How far a grant without an expiry is reported to last: 100 years, as upstream does.
    static let reportedLifetime = GrantExpiration(unit: .year, count: 100)

    /// The upstream `EntitlementGrant` JSON at `now`.
    public func json(now: Timestamp) -> JSONValue {
        let expiration = expiration ?? GrantRecord.reportedLifetime
        var members: JSONObject = [
            "id": .string(grant.id.text), "entitlementId": .string(entitlementID), "amount": .amount(grant.amount),
            "priority": .number("\(grant.priority)"), "effectiveAt": .string(grant.effectiveAt.description),
            "expiration": .object([
                "duration": .string(expiration.unit.rawValue), "count": .number("\(expiration.count)"),
            ]),
            "expiresAt": .string(
                (grant.expiresAt ?? GrantRecord.reportedLifetime.expiry(from: now) ?? .latest).description),
            "maxRolloverAmount": .amount(grant.maxRolloverAmount),
            "minRolloverAmount": .amount(grant.minRolloverAmount),
            "createdAt": .string(grant.createdAt.description), "updatedAt": .string(updatedAt.description),
        ]
        if let recurrence = grant.recurrence {
            members["recurrence"] = recurrence.json
            if let step = recurrence.step(containing: now),
                let next = recurrence.time(recurrence.time(step) == now ? step : step + 1)
            {
                members["nextRecurrence"] = .string(next.description)
            }
        }
        if let voidedAt = grant.voidedAt { members["voidedAt"] = .string(voidedAt.description) }
        if let metadata { members["metadata"] = .object(JSONObject(metadata) { .string($0) }) }
        if issuedAfterReset { members["annotations"] = .object(["issueAfterReset": .bool(true)]) }
        return .object(members)
    }
}

extension MeteredValue {
    /// Upstream `EntitlementValue` (v2 adds `grantBalances`).
    public func json(version: APIVersion) -> JSONValue {
        var members: JSONObject = [
            "hasAccess": .bool(hasAccess), "balance": .amount(balance), "usage": .amount(usage),
            "overage": .amount(overage), "totalAvailableGrantAmount": .amount(totalAvailableGrantAmount),
        ]
        if version == .v2 {
            members["grantBalances"] = .object(
                JSONObject(
                    Dictionary(uniqueKeysWithValues: grantBalances.map { ($0.key.text, JSONValue.amount($0.value)) })))
        }
        return .object(members)
    }
}

extension BalanceHistory {
    /// Upstream `WindowedBalanceHistory`.
    public var json: JSONValue {
        func balances(_ map: [GrantID: Amount]) -> JSONValue {
            .object(JSONObject(Dictionary(uniqueKeysWithValues: map.map { ($0.key.text, JSONValue.amount($0.value)) })))
        }
        let windowed = windows.map { window -> JSONValue in
            .object([
                "period": window.period.json, "usage": .amount(window.usage),
                "balanceAtStart": .amount(window.balanceAtStart),
            ])
        }
        let segments = burndown.map { segment -> JSONValue in
            .object([
                "period": segment.period.json, "usage": .amount(segment.usage), "overage": .amount(segment.overage),
                "balanceAtStart": .amount(segment.balanceAtStart), "balanceAtEnd": .amount(segment.balanceAtEnd),
                "grantBalancesAtStart": balances(segment.grantBalancesAtStart),
                "grantBalancesAtEnd": balances(segment.grantBalancesAtEnd),
                "grantUsages": .array(
                    segment.grantUsages.sorted { $0.key < $1.key }.map {
                        .object(["grantId": .string($0.key.text), "usage": .amount($0.value)])
                    }),
            ])
        }
        return .object(["windowedHistory": .array(windowed), "burndownHistory": .array(segments)])
    }
}

/// Where a customer's state lives in a cluster: in the slot of its owner key (`Customer.ownerKey`), on that slot's
/// owner, beside the usage of its subjects. The owner answers balances from its own store, so every subject key a
/// customer attributes must hash to the customer's slot (a subject equal to the key always does); a customer whose
/// subjects lie in other slots is refused until usage can be gathered across workers for balances.
public enum CustomerPlacement {
    /// The errors for `subjectKeys` outside the slot of `ownerKey` (field `usageAttribution.subjectKeys[i]`), none
    /// when all share it.
    public static func misplacedSubjects(ownerKey: String, subjectKeys: [String], slotCount: Int) -> [FieldError] {
        let slot = SlotTable.slot(of: ownerKey, slotCount: slotCount)
        return subjectKeys.enumerated().compactMap { index, subject in
            let subjectSlot = SlotTable.slot(of: subject, slotCount: slotCount)
            guard subjectSlot != slot else { return nil }
            return FieldError(
                field: "usageAttribution.subjectKeys[\(index)]",
                reason:
                    "lies in slot \(subjectSlot) and the customer \"\(ownerKey.echoed)\" in slot \(slot); in a cluster "
                    + "a customer's subjects must share its slot (use the customer key as the subject key)")
        }
    }
}

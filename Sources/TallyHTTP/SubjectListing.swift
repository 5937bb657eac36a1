import TallyCore
import TallyStore

/// Rendering of `GET /api/v1/subjects` (upstream `Subject` list).
public enum SubjectListing {
    public static func json(_ subjects: [SubjectRecord]) -> JSONValue {
        .array(
            subjects.map { subject in
                .object([
                    "id": .string(subject.id), "key": .string(subject.key),
                    "createdAt": .string(subject.firstSeen.description),
                    "updatedAt": .string(subject.firstSeen.description),
                ])
            })
    }
}

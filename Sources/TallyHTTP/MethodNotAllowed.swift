import Hummingbird
import TallyCore

/// Answers a request with a method a known path does not serve with 405 and `Allow`, instead of the router's 404.
public enum MethodNotAllowed {
    /// The methods a path of the API can be asked with.
    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options]

    /// Registers, for every path of `router`'s routes, a 405 responder for each method it does not serve. Call
    /// after every route is registered.
    public static func register<Context: RequestContext>(on router: Router<Context>) {
        var served: [String: (path: RouterPath, methods: [HTTPRequest.Method])] = [:]
        for route in router.routes {
            served[route.path.description, default: (route.path, [])].methods.append(route.method)
        }
        for (path, methods) in served.values {
            let allow = methods.map(\.rawValue).sorted().joined(separator: ", ")
            for method in Self.methods where !methods.contains(method) {
                router.on(path, method: method) { _, _ -> Response in
                    var problem = Problem(
                        .methodNotAllowed, type: "urn:tally:problem:method-not-allowed",
                        detail: "\(method.rawValue) is not served here; allowed: \(allow)",
                        errors: [FieldError(field: "method", reason: "must be one of \(allow)")])
                    problem.headers[.allow] = allow
                    throw problem
                }
            }
        }
    }
}

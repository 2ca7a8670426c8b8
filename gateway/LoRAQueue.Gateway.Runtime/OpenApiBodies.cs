using Microsoft.OpenApi;

namespace LoRAQueue.Gateway;

/// <summary>
/// Documents a request body in the OpenAPI document without <c>Accepts</c>: Accepts also makes routing refuse any other
/// Content-Type with a bare 415, and endpoints here read their bodies themselves (so curl's default form content type,
/// or a JSONL body sent as text/plain, still works and bad content gets a problem that says what is wrong).
/// </summary>
public static class OpenApiBodies
{
    public static RouteHandlerBuilder DocumentsBody<T>(this RouteHandlerBuilder builder, string contentType, string description) =>
        builder.AddOpenApiOperationTransformer(async (operation, context, ct) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(T), null, ct);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType> { [contentType] = new OpenApiMediaType { Schema = schema } },
            };
        });
}

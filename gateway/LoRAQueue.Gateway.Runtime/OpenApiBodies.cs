using Microsoft.OpenApi;

namespace LoRAQueue.Gateway;

/// <summary>
/// Documents a request body in the OpenAPI document without <c>Accepts</c>: Accepts also makes routing refuse any other
/// Content-Type with a bare 415, and endpoints here read their bodies themselves and check the type as they do
/// (<see cref="Tenancy.BodyMediaType"/>), so a wrong one gets a problem that names the types read.
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

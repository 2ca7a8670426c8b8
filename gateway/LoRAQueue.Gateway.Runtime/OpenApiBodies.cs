using Microsoft.OpenApi;

namespace LoRAQueue.Gateway;

/// <summary>
/// Documents a request body in the OpenAPI document without <c>Accepts</c>: Accepts also makes routing refuse any other
/// Content-Type with a bare 415, and endpoints here read their bodies themselves and check the type as they do
/// (<see cref="Tenancy.BodyMediaType"/>), so a wrong one gets a problem that names the types read. An endpoint that reads
/// several types calls this once per type: each adds its content, and the descriptions are joined.
/// </summary>
public static class OpenApiBodies
{
    public static RouteHandlerBuilder DocumentsBody<T>(this RouteHandlerBuilder builder, string contentType, string description) =>
        builder.AddOpenApiOperationTransformer(async (operation, context, ct) =>
            AddContent(operation, contentType, description, await context.GetOrCreateSchemaAsync(typeof(T), null, ct)));

    /// <summary>A body whose schema is written out, such as a multipart form (no type to generate it from).</summary>
    public static RouteHandlerBuilder DocumentsBody(this RouteHandlerBuilder builder, string contentType, string description,
                                                    Func<IOpenApiSchema> schema) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            AddContent(operation, contentType, description, schema());
            return Task.CompletedTask;
        });

    private static void AddContent(OpenApiOperation operation, string contentType, string description, IOpenApiSchema schema)
    {
        if (operation.RequestBody is OpenApiRequestBody { Content: { } content } body)
            body.Description = $"{body.Description}\n\n{description}";
        else
            operation.RequestBody = new OpenApiRequestBody { Required = true, Description = description, Content = content = new Dictionary<string, OpenApiMediaType>() };
        content[contentType] = new OpenApiMediaType { Schema = schema };
    }
}

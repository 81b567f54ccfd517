// The hub's JSON API, with its one error shape turned into an exception that says what
// went wrong (the message is for a person).

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `the hub answered ${status}`);
    this.status = status;
    this.code = error?.code;
    this.details = error?.details || {};
  }
}

export async function api(path, { method = "GET", body, form } = {}) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (form) options.body = form;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, { message: "The hub cannot be reached.", code: "unreachable" });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error);
  return data;
}

export const get = (path) => api(path);
export const post = (path, body) => api(path, { method: "POST", body });
export const patch = (path, body) => api(path, { method: "PATCH", body });
export const del = (path) => api(path, { method: "DELETE" });

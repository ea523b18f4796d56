// MyBlog: CloudFront viewer-request function on the /media/* behaviour.
// The media bucket holds uploads/... and thumbnails/...; viewers ask for
// /media/uploads/...: strip the /media prefix before CloudFront asks S3.
function handler(event) {
  var request = event.request;
  if (request.uri === '/media' || request.uri.indexOf('/media/') === 0) {
    request.uri = request.uri.substring('/media'.length) || '/';
  }
  return request;
}

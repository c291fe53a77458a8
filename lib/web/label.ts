/** Console label of the web service. */
export const WEB_LABEL = "[Web Server]";

interface Props {
  title: string;
  detail: string;
  onRetry?: () => void;
}

/** An error the user must see; with a Retry button when trying again may help. */
export function ErrorBanner({ title, detail, onRetry }: Props) {
  return (
    <div role="alert" className="banner banner-error">
      <p>
        <strong>{title}</strong> {detail}
      </p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}
